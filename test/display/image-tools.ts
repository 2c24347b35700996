import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Test-side image tools, independent of the product's own encoders: PNG files are written with pngjs (qrcode's PNG
 * library) and decoded by a real decoder, zbarimg. What the renderers draw is judged by what zbarimg reads.
 */

interface PngjsImage {
  data: Buffer;
}
interface PngjsModule {
  PNG: {
    new (options: { width: number; height: number }): PngjsImage;
    sync: { write(png: PngjsImage): Buffer; read(buffer: Buffer): PngjsImage & { width: number; height: number } };
  };
}

const { PNG } = createRequire(import.meta.url)("pngjs") as PngjsModule;

export function tempDir(prefix = "seqr-vend-display-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes an RGB(A) picture given as a pixel function to a PNG file. */
export function writePng(
  file: string,
  width: number,
  height: number,
  pixel: (x: number, y: number) => readonly [number, number, number],
): string {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      const offset = (y * width + x) * 4;
      png.data[offset] = r;
      png.data[offset + 1] = g;
      png.data[offset + 2] = b;
      png.data[offset + 3] = 255;
    }
  }
  writeFileSync(file, PNG.sync.write(png));
  return file;
}

export function readPng(buffer: Buffer): { width: number; height: number; data: Buffer } {
  return PNG.sync.read(buffer);
}

/** Every code zbarimg finds in the image, one per line, exactly as decoded (--raw, no type prefix). */
export function zbarDecode(file: string): { status: number | null; text: string; stderr: string } {
  const result = spawnSync("zbarimg", ["--raw", "-q", file], { encoding: "utf8", timeout: 20_000 });
  // zbarimg ends each decoded symbol with a newline; the symbol itself is everything before it.
  return { status: result.status, text: result.stdout.replace(/\n$/, ""), stderr: result.stderr };
}

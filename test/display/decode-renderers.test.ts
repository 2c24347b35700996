import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  createFramebufferDisplay,
  decodeFramebuffer,
  encodeFramebuffer,
  type FramebufferGeometry,
  readFramebufferGeometry,
} from "../../agent/display/framebuffer.ts";
import { createQrMatrix, seqrQrPayload } from "../../agent/display/qr.ts";
import { createRaster, fillRect } from "../../agent/display/raster.ts";
import { describeScreen, type ScreenContext } from "../../agent/display/screens.ts";
import { writeStickerFiles } from "../../agent/display/sticker.ts";
import { createTerminalDisplay, terminalQr, terminalScreenText } from "../../agent/display/terminal.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { readPng, tempDir, writePng, zbarDecode } from "./image-tools.ts";

const merchantId = "acme";
const machineId = "M0042-test";
const expected = "HTTP://SEQR.SE/000/ups?w=acme&t=M0042-test";
const esc = String.fromCharCode(27);
const ansiEscape = new RegExp(`${esc}\\[[0-9;]*m`, "g");

const context: ScreenContext = {
  machine: { id: machineId, merchantId },
  catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
  idleText: "Scan with the SEQR app to pay",
  now: 0,
};
const idle = describeScreen({ screen: "idle" }, context);

/** Decodes raw device pixels in the test's own way (not the renderer's decodeFramebuffer), then writes a PNG. */
function framebufferToPng(file: string, pixels: Buffer, geometry: FramebufferGeometry): string {
  return writePng(file, geometry.width, geometry.height, (x, y) => {
    if (geometry.bitsPerPixel === 16) {
      const value = pixels.readUInt16LE(y * geometry.stride + x * 2);
      return [((value >> 11) & 31) << 3, ((value >> 5) & 63) << 2, (value & 31) << 3];
    }
    const at = y * geometry.stride + x * 4;
    return [pixels[at + 2] as number, pixels[at + 1] as number, pixels[at] as number];
  });
}

function fakeSysfs(name: string, files: Record<string, string>): string {
  const root = tempDir("seqr-vend-sysfs-");
  mkdirSync(join(root, name));
  for (const [file, content] of Object.entries(files)) writeFileSync(join(root, name, file), `${content}\n`);
  return root;
}

describe("framebuffer geometry and pixel formats", () => {
  it("reads virtual_size, bits_per_pixel and stride from sysfs; modes gives the visible size", () => {
    const root = fakeSysfs("fb1", {
      virtual_size: "480,640",
      bits_per_pixel: "16",
      stride: "960",
      modes: "U:480x320p-0",
    });
    expect(readFramebufferGeometry("/dev/fb1", root)).toEqual({
      width: 480,
      height: 320,
      bitsPerPixel: 16,
      stride: 960,
    });
    const plain = fakeSysfs("fb0", { virtual_size: "800,480", bits_per_pixel: "32", stride: "3200" });
    expect(readFramebufferGeometry("/dev/fb0", plain)).toEqual({
      width: 800,
      height: 480,
      bitsPerPixel: 32,
      stride: 3200,
    });
  });

  it("refuses depths it cannot draw and strides that are too short", () => {
    const eight = fakeSysfs("fb0", { virtual_size: "320,240", bits_per_pixel: "8", stride: "320" });
    expect(() => readFramebufferGeometry("/dev/fb0", eight)).toThrow(/8 bits per pixel/);
    const short = fakeSysfs("fb0", { virtual_size: "320,240", bits_per_pixel: "16", stride: "600" });
    expect(() => readFramebufferGeometry("/dev/fb0", short)).toThrow(/stride 600/);
    expect(() => readFramebufferGeometry("/dev/fb9", short)).toThrow(/ENOENT/);
  });

  it("packs RGB565 and XRGB8888 little-endian, honouring the stride", () => {
    const raster = createRaster(2, 1);
    fillRect(raster, 0, 0, 1, 1, [255, 0, 0]);
    fillRect(raster, 1, 0, 1, 1, [0, 0, 255]);
    expect([...encodeFramebuffer(raster, { width: 2, height: 1, bitsPerPixel: 16, stride: 6 })]).toEqual([
      0x00, 0xf8, 0x1f, 0x00, 0, 0,
    ]);
    expect([...encodeFramebuffer(raster, { width: 2, height: 1, bitsPerPixel: 32, stride: 8 })]).toEqual([
      0, 0, 255, 255, 255, 0, 0, 255,
    ]);
    const geometry = { width: 2, height: 1, bitsPerPixel: 32 as const, stride: 8 };
    expect(decodeFramebuffer(encodeFramebuffer(raster, geometry), geometry).data).toEqual(raster.data);
  });
});

describe.runIf(hasTool("zbarimg"))("every renderer's QR decodes with zbarimg to exactly the configured string", () => {
  it.each([
    { bitsPerPixel: 16 as const, width: 320, height: 240, stride: 320 * 2 + 32 },
    { bitsPerPixel: 32 as const, width: 480, height: 800, stride: 480 * 4 },
    { bitsPerPixel: 16 as const, width: 128, height: 160, stride: 128 * 2 },
  ])("framebuffer at $bitsPerPixel bpp, $width x $height", async (geometry) => {
    const dir = tempDir();
    const device = join(dir, "fb0");
    const root = fakeSysfs("fb0", {
      virtual_size: `${geometry.width},${geometry.height}`,
      bits_per_pixel: String(geometry.bitsPerPixel),
      stride: String(geometry.stride),
    });
    const display = createFramebufferDisplay({ device, sysfsRoot: root, clock: systemClock, logger: silentLogger() });
    expect(display.geometry).toEqual(geometry);
    await display.show(idle);
    await display.close();
    const pixels = readFileSync(device);
    expect(pixels.length).toBe(geometry.stride * geometry.height);
    const decoded = zbarDecode(framebufferToPng(join(dir, "fb.png"), pixels, geometry));
    expect(decoded.text).toBe(expected);
  });

  it("framebuffer: a later screen without QR replaces it (nothing left to scan)", async () => {
    const dir = tempDir();
    const device = join(dir, "fb0");
    const geometry = { width: 320, height: 240, bitsPerPixel: 32 as const, stride: 1280 };
    const display = createFramebufferDisplay({ device, geometry, clock: systemClock, logger: silentLogger() });
    await display.show(idle);
    await display.show(describeScreen({ screen: "payment-pending", amountMinor: 500, currency: "EUR" }, context));
    await display.close();
    const decoded = zbarDecode(framebufferToPng(join(dir, "fb.png"), readFileSync(device), geometry));
    expect(decoded.text).toBe("");
    expect(decoded.status).toBe(4); // zbarimg: no symbol found
  });

  /** Reads half-block text back to modules: each character is an upper and a lower module. */
  function halfBlocksToPng(file: string, text: string, inkIsDark: boolean): string {
    const rows = text
      .replace(ansiEscape, "")
      .split("\n")
      .filter((line) => line.length > 0 && /^[ \u2580\u2584\u2588]+$/.test(line));
    const width = Math.max(...rows.map((row) => [...row].length));
    const scale = 6;
    const ink = (x: number, y: number): boolean => {
      const char = [...(rows[Math.floor(y / 2)] ?? "")][x] ?? " ";
      const top = y % 2 === 0;
      return char === "\u2588" || (top ? char === "\u2580" : char === "\u2584");
    };
    return writePng(file, width * scale, rows.length * 2 * scale, (x, y) => {
      const dark = ink(Math.floor(x / scale), Math.floor(y / scale)) === inkIsDark;
      return dark ? [0, 0, 0] : [255, 255, 255];
    });
  }

  it.each([
    { name: "without colour (NO_COLOR): ink marks light modules", color: false, invert: false, inkIsDark: false },
    { name: "without colour, inverted for light terminals", color: false, invert: true, inkIsDark: true },
    { name: "with colour: black on white", color: true, invert: false, inkIsDark: true },
  ])("terminal $name", ({ color, invert, inkIsDark }) => {
    const text = terminalScreenText(idle, { color, invert, now: 0 });
    expect(text).toContain("Scan with the SEQR app to pay");
    if (!color) expect(text).not.toContain(esc);
    const decoded = zbarDecode(halfBlocksToPng(join(tempDir(), "terminal.png"), text, inkIsDark));
    expect(decoded.text).toBe(expected);
  });

  it("terminal display respects NO_COLOR on a TTY", async () => {
    let written = "";
    const stream = Object.assign(
      new Writable({
        write(chunk: Buffer, _encoding: string, done: () => void) {
          written += chunk.toString();
          done();
        },
      }),
      { isTTY: true },
    );
    await createTerminalDisplay({ stream, env: { NO_COLOR: "1" }, clock: systemClock }).show(idle);
    // A TTY is cleared between screens, but no colour escapes are used.
    expect(written.startsWith("\x1b[2J\x1b[H")).toBe(true);
    expect(written.slice(7)).not.toContain(esc);
    const decoded = zbarDecode(halfBlocksToPng(join(tempDir(), "tty.png"), written.slice(7), false));
    expect(decoded.text).toBe(expected);
  });

  it("an odd-sized QR's last half row counts as quiet zone", () => {
    const matrix = createQrMatrix(expected);
    const lines = terminalQr(matrix, { color: false, quietZone: 3 });
    expect(lines.length).toBe(Math.ceil((matrix.size + 6) / 2));
  });

  it("PNG sticker file", () => {
    const file = join(tempDir(), "sticker.png");
    writeStickerFiles(
      { payload: seqrQrPayload(merchantId, machineId), caption: context.idleText, machineLabel: machineId },
      { png: file },
    );
    const png = readPng(readFileSync(file));
    expect(png.width).toBeGreaterThanOrEqual(250);
    expect(zbarDecode(file).text).toBe(expected);
  });
});

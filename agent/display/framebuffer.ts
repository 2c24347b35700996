import { closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import { basename, join } from "node:path";
import type { Clock, TimerHandle } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { pixelPitchMm } from "./panel-pitch.ts";
import { createQrMatrix, type QrMatrix } from "./qr.ts";
import type { Raster } from "./raster.ts";
import { drawScreen, layoutScreen, pageMs } from "./raster-screen.ts";
import type { Display, Screen } from "./screens.ts";

/**
 * The Linux framebuffer renderer, for small SPI screens with no browser (fbtft / tinydrm panels at 16 bpp RGB565,
 * HDMI consoles at 32 bpp XRGB8888). It draws the screen into a raster and writes the raw pixels to the device file;
 * geometry comes from sysfs (/sys/class/graphics/fbN/...), or from overrides in tests.
 */

export interface FramebufferGeometry {
  width: number;
  height: number;
  bitsPerPixel: 16 | 32;
  /** Bytes per row in the device (may exceed width x bytes per pixel). */
  stride: number;
}

function readSysfs(directory: string, name: string): string {
  return readFileSync(join(directory, name), "utf8").trim();
}

/**
 * Reads fbN's geometry. The visible size comes from `modes` ("U:480x320p-0") when present, since `virtual_size` can
 * be twice the height on drivers that double-buffer; `stride` and `bits_per_pixel` are what the memory really is.
 */
export function readFramebufferGeometry(device: string, sysfsRoot = "/sys/class/graphics"): FramebufferGeometry {
  const directory = join(sysfsRoot, basename(device));
  const virtual = readSysfs(directory, "virtual_size").match(/^(\d+),(\d+)$/);
  if (!virtual) throw new Error(`${directory}/virtual_size is not "<width>,<height>"`);
  let width = Number(virtual[1]);
  let height = Number(virtual[2]);
  if (existsSync(join(directory, "modes"))) {
    const mode = readSysfs(directory, "modes").match(/(\d+)x(\d+)/);
    if (mode) {
      width = Math.min(width, Number(mode[1]));
      height = Math.min(height, Number(mode[2]));
    }
  }
  const bitsPerPixel = Number(readSysfs(directory, "bits_per_pixel"));
  if (bitsPerPixel !== 16 && bitsPerPixel !== 32) {
    throw new Error(
      `${device} is ${bitsPerPixel} bits per pixel; the framebuffer renderer draws 16 (RGB565) or 32 (XRGB8888)`,
    );
  }
  const stride = Number(readSysfs(directory, "stride"));
  if (!Number.isInteger(stride) || stride < (width * bitsPerPixel) / 8) {
    throw new Error(`${directory}/stride ${stride} is smaller than a row of ${width} pixels`);
  }
  return { width, height, bitsPerPixel, stride };
}

/** Converts an RGB raster to the device's pixel format, little-endian as on ARM and x86 framebuffers. */
export function encodeFramebuffer(raster: Raster, geometry: FramebufferGeometry): Buffer {
  const { width, height, bitsPerPixel, stride } = geometry;
  if (raster.width !== width || raster.height !== height) {
    throw new RangeError(`raster ${raster.width}x${raster.height} does not match the framebuffer ${width}x${height}`);
  }
  const out = Buffer.alloc(stride * height);
  for (let row = 0; row < height; row++) {
    for (let column = 0; column < width; column++) {
      const source = (row * width + column) * 3;
      const r = raster.data[source] as number;
      const g = raster.data[source + 1] as number;
      const b = raster.data[source + 2] as number;
      if (bitsPerPixel === 16) {
        out.writeUInt16LE(((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3), row * stride + column * 2);
      } else {
        // XRGB8888 in memory, little-endian: B, G, R, X.
        const target = row * stride + column * 4;
        out[target] = b;
        out[target + 1] = g;
        out[target + 2] = r;
        out[target + 3] = 0xff;
      }
    }
  }
  return out;
}

/** Back from device pixels to RGB: for tests and for `vend-agent qr` to show what the panel shows. */
export function decodeFramebuffer(pixels: Uint8Array, geometry: FramebufferGeometry): Raster {
  const { width, height, bitsPerPixel, stride } = geometry;
  const data = new Uint8Array(width * height * 3);
  const view = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  for (let row = 0; row < height; row++) {
    for (let column = 0; column < width; column++) {
      const target = (row * width + column) * 3;
      if (bitsPerPixel === 16) {
        const value = view.readUInt16LE(row * stride + column * 2);
        data[target] = (((value >> 11) & 0x1f) * 255) / 31;
        data[target + 1] = (((value >> 5) & 0x3f) * 255) / 63;
        data[target + 2] = ((value & 0x1f) * 255) / 31;
      } else {
        const source = row * stride + column * 4;
        data[target] = view[source + 2] as number;
        data[target + 1] = view[source + 1] as number;
        data[target + 2] = view[source] as number;
      }
    }
  }
  return { width, height, data };
}

export interface FramebufferDisplayOptions {
  /** config display.framebufferDevice */
  device: string;
  /** Geometry override (tests, or a driver whose sysfs lies); read from sysfs when absent. */
  geometry?: FramebufferGeometry;
  sysfsRoot?: string;
  /** config display.panelDiagonalInches: sizes the text in millimetres; known SPI panels by resolution otherwise. */
  panelDiagonalInches?: number | undefined;
  clock: Clock;
  logger: Logger;
}

export function createFramebufferDisplay(
  options: FramebufferDisplayOptions,
): Display & { readonly geometry: FramebufferGeometry } {
  const geometry = options.geometry ?? readFramebufferGeometry(options.device, options.sysfsRoot);
  const logger = options.logger.child({ module: "display.framebuffer" });
  const pitch = pixelPitchMm(geometry.width, geometry.height, options.panelDiagonalInches);
  const matrices = new Map<string, QrMatrix>();
  const qrFor = (payload: string) => {
    let matrix = matrices.get(payload);
    if (!matrix) {
      matrix = createQrMatrix(payload);
      matrices.set(payload, matrix);
    }
    return matrix;
  };
  let tick: TimerHandle | undefined;
  let closed = false;

  const paint = (screen: Screen) => {
    try {
      const pixels = encodeFramebuffer(
        drawScreen(screen, geometry.width, geometry.height, { now: options.clock.now(), qrFor, pixelPitchMm: pitch }),
        geometry,
      );
      // A device node exists already (r+ keeps it); a plain file (tests, a file-backed panel) is created.
      const fd = openSync(options.device, existsSync(options.device) ? "r+" : "w");
      try {
        writeSync(fd, pixels, 0, pixels.length, 0);
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      logger.error({ err: error, device: options.device, screen: screen.name }, "could not draw on the framebuffer");
    }
  };

  /** When to redraw next: each second of a countdown, else each page turn of a screen shown in pages, else never. */
  const nextRedraw = (screen: Screen): number | undefined => {
    const now = options.clock.now();
    if (screen.countdown) {
      // The countdown's second; a product list in pages turns its pages meanwhile (drawScreen picks the page).
      const remaining = screen.countdown.deadline - now;
      return remaining > 0 ? remaining % 1000 || 1000 : undefined;
    }
    const layout = layoutScreen(screen, geometry.width, geometry.height, { now, qrFor, pixelPitchMm: pitch });
    return layout.pages.length > 1 ? pageMs - (now % pageMs) : undefined;
  };

  const schedule = (screen: Screen) => {
    if (tick) options.clock.clearTimeout(tick);
    tick = undefined;
    if (closed) return;
    const wait = nextRedraw(screen);
    if (wait === undefined) return;
    tick = options.clock.setTimeout(() => {
      paint(screen);
      schedule(screen);
    }, wait);
    tick.unref?.();
  };

  return {
    geometry,
    show: (screen) => {
      if (closed) return;
      paint(screen);
      schedule(screen);
    },
    close: () => {
      closed = true;
      if (tick) options.clock.clearTimeout(tick);
    },
  };
}

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createScreenOutput, type ScreenOutput } from "../../agent/display/create-display.ts";
import { createFramebufferDisplay, encodeFramebuffer } from "../../agent/display/framebuffer.ts";
import { drawScreen, layoutScreen, pageMs } from "../../agent/display/raster-screen.ts";
import { describeScreen } from "../../agent/display/screens.ts";
import { agentConfigSchema } from "../../config/schema/agent.ts";
import { type Clock, systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { tempDir } from "./image-tools.ts";

const configInput = {
  machine: { id: "S0001", merchantId: "acme" },
  commandKey: "ef".repeat(32),
  catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
};
const config = agentConfigSchema.parse({
  ...configInput,
  display: { renderer: "kiosk", kioskHost: "127.0.0.1", kioskPort: 0, idleText: "Scan to pay" },
});

let output: ScreenOutput | undefined;
afterEach(async () => {
  await output?.close();
  output = undefined;
  vi.useRealTimers();
});

describe("createScreenOutput (what the agent core drives)", () => {
  it("kiosk: serves on the configured host, port 0 picks one; show(state) reaches the page's screen", async () => {
    output = await createScreenOutput(config, { clock: systemClock, logger: silentLogger() });
    expect(output.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    await output.show({ screen: "idle" });
    const idle = (await (await fetch(new URL("screen", output.url))).json()) as {
      screen: { name: string; lines: string[]; qr: { payload: string } };
    };
    expect(idle.screen).toMatchObject({
      name: "idle",
      lines: ["Scan to pay"],
      qr: { payload: "HTTP://SEQR.SE/000/ups?w=acme&t=S0001" },
    });
  });

  it("uses the catalog in force, not only the configured one", async () => {
    const replaced = { currency: "EUR", products: { Z9: { name: "Tea", sku: "T", priceMinor: 100 } } };
    output = await createScreenOutput(config, { clock: systemClock, logger: silentLogger(), catalog: () => replaced });
    await output.show({
      screen: "choose-product",
      budgetLeftMinor: 500,
      currency: "EUR",
      deadline: Date.now() + 10_000,
    });
    const body = (await (await fetch(new URL("screen", output.url))).json()) as {
      screen: { products: Array<{ selection: string }> };
    };
    expect(body.screen.products.map((product) => product.selection)).toEqual(["Z9"]);
  });

  it("none: draws nowhere and needs nothing", async () => {
    output = await createScreenOutput(
      { ...config, display: { ...config.display, renderer: "none" } },
      { clock: systemClock, logger: silentLogger() },
    );
    expect(output.url).toBeUndefined();
    await output.show({ screen: "out-of-service", reason: "Broker unreachable" });
  });

  it("kiosk: a taken port is an error at start, not a silent blank screen", async () => {
    output = await createScreenOutput(config, { clock: systemClock, logger: silentLogger() });
    const port = Number(new URL(output.url ?? "").port);
    await expect(
      createScreenOutput(
        { ...config, display: { ...config.display, kioskPort: port } },
        { clock: systemClock, logger: silentLogger() },
      ),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});

/** vitest's fake timers from `now` on, seen through the Clock interface the display takes. */
function fakeTimerClock(now: number): Clock {
  vi.useFakeTimers({ now });
  return {
    now: () => Date.now(),
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  };
}

describe("framebuffer countdown", () => {
  it("redraws each second while a countdown runs, and stops at zero or on close", async () => {
    const clock = fakeTimerClock(1_000_000);
    const device = join(tempDir(), "fb");
    const geometry = { width: 160, height: 128, bitsPerPixel: 16 as const, stride: 320 };
    const display = createFramebufferDisplay({ device, geometry, clock, logger: silentLogger() });
    const context = {
      machine: { id: "S0001", merchantId: "acme" },
      catalog: config.catalog,
      idleText: "x",
      now: Date.now(),
    };
    await display.show(
      describeScreen(
        { screen: "choose-product", budgetLeftMinor: 500, currency: "EUR", deadline: Date.now() + 3_000 },
        context,
      ),
    );
    const frames = [readFileSync(device)];
    for (let second = 0; second < 3; second++) {
      vi.advanceTimersByTime(1_000);
      frames.push(readFileSync(device));
    }
    // "3 s left", "2 s left", "1 s left", "0 s left": four different pictures.
    expect(new Set(frames.map((frame) => frame.toString("base64"))).size).toBe(4);
    expect(vi.getTimerCount()).toBe(0);
    await display.show(
      describeScreen(
        { screen: "choose-product", budgetLeftMinor: 500, currency: "EUR", deadline: Date.now() + 60_000 },
        context,
      ),
    );
    expect(vi.getTimerCount()).toBe(1);
    await display.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a drawing failure is logged, not thrown (the next show may succeed)", async () => {
    const errors: unknown[] = [];
    const logger = silentLogger();
    vi.spyOn(logger, "child").mockReturnValue({ error: (...args: unknown[]) => errors.push(args) } as never);
    const display = createFramebufferDisplay({
      device: "/nonexistent-dir/fb0",
      geometry: { width: 64, height: 64, bitsPerPixel: 32, stride: 256 },
      clock: systemClock,
      logger,
    });
    await display.show(
      describeScreen(
        { screen: "out-of-service", reason: "x" },
        { machine: { id: "S1", merchantId: "a" }, catalog: config.catalog, idleText: "", now: 0 },
      ),
    );
    expect(errors).toHaveLength(1);
  });
});

describe("framebuffer panel size", () => {
  it("display.panelDiagonalInches sizes the text for that panel: a 2-inch 320x240 needs scale 4 for 3.5 mm", async () => {
    const clock: Clock = { ...systemClock, now: () => 1_000_000 };
    const geometry = { width: 320, height: 240, bitsPerPixel: 32 as const, stride: 1280 };
    const screen = describeScreen(
      { screen: "out-of-service", reason: "Refilling" },
      { machine: { id: "S1", merchantId: "a" }, catalog: config.catalog, idleText: "", now: clock.now() },
    );
    // 2.0 x 25.4 / 400 = 0.127 mm a pixel: 3.5 mm is 27.6 px, a 4x glyph (32 px); 3x (24 px) would be 3.05 mm.
    const pitch = (2.0 * 25.4) / 400;
    const texts = layoutScreen(screen, 320, 240, { now: clock.now(), pixelPitchMm: pitch }).pages.flat();
    expect(Math.min(...texts.filter((text) => !text.smallPrint).map((text) => text.scale))).toBe(4);
    const device = join(tempDir(), "fb");
    const framebufferConfig = agentConfigSchema.parse({
      ...configInput,
      display: { renderer: "framebuffer", panelDiagonalInches: 2 },
    });
    const display = createFramebufferDisplay({
      device,
      geometry,
      panelDiagonalInches: framebufferConfig.display.panelDiagonalInches,
      clock,
      logger: silentLogger(),
    });
    await display.show(screen);
    const expected = encodeFramebuffer(
      drawScreen(screen, 320, 240, { now: clock.now(), pixelPitchMm: pitch }),
      geometry,
    );
    expect(readFileSync(device).equals(expected)).toBe(true);
    const usual = encodeFramebuffer(drawScreen(screen, 320, 240, { now: clock.now() }), geometry);
    expect(expected.equals(usual)).toBe(false);
  });
});

describe("framebuffer pages", () => {
  it("a screen in pages without a countdown (a long fault message) turns them every pageMs until the next screen", async () => {
    const clock = fakeTimerClock(1_000_000);
    const device = join(tempDir(), "fb");
    const geometry = { width: 320, height: 240, bitsPerPixel: 16 as const, stride: 640 };
    const display = createFramebufferDisplay({ device, geometry, clock, logger: silentLogger() });
    const context = { machine: { id: "S1", merchantId: "a" }, catalog: config.catalog, idleText: "", now: Date.now() };
    const screen = describeScreen(
      { screen: "out-of-service", reason: "The motor drew too much current. ".repeat(6) },
      context,
    );
    const pages = layoutScreen(screen, 320, 240, { now: Date.now() }).pages.length;
    expect(pages).toBeGreaterThan(1);
    await display.show(screen);
    const frames = [readFileSync(device).toString("base64")];
    for (let page = 1; page <= pages; page++) {
      vi.advanceTimersByTime(pageMs);
      frames.push(readFileSync(device).toString("base64"));
    }
    // Every page once, then the first again.
    expect(new Set(frames).size).toBe(pages);
    expect(frames.at(-1)).toBe(frames[0]);
    await display.show(describeScreen({ screen: "starting" }, context));
    expect(vi.getTimerCount()).toBe(0);
    await display.close();
  });
});

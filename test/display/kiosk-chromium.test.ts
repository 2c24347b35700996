import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type KioskAction, type KioskServer, startKioskServer } from "../../agent/display/kiosk-server.ts";
import { seqrQrPayload } from "../../agent/display/qr.ts";
import { describeScreen } from "../../agent/display/screens.ts";
import { writeStickerFiles } from "../../agent/display/sticker.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { launchChromium } from "../helpers/browser.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { tempDir, zbarDecode } from "./image-tools.ts";
import { kioskContext } from "./kiosk-context.ts";

const expected = "HTTP://SEQR.SE/000/ups?w=acme&t=K0001";
const context = kioskContext({ id: "K0001", name: "Kiosk test" });
const idle = describeScreen({ screen: "idle" }, context);

let kiosk: KioskServer | undefined;
afterEach(async () => {
  await kiosk?.close();
  kiosk = undefined;
});

async function startKiosk(): Promise<KioskServer> {
  kiosk = await startKioskServer({
    host: "127.0.0.1",
    port: 0,
    clock: systemClock,
    logger: silentLogger(),
    keepAliveSeconds: 1,
  });
  return kiosk;
}

describe("kiosk server over HTTP", () => {
  it("serves a self-contained page on loopback with a port chosen by the OS", async () => {
    const { url } = await startKiosk();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const response = await fetch(url);
    expect(response.headers.get("content-type")).toMatch(/text\/html/);
    const html = await response.text();
    // No external assets: nothing is fetched from anywhere but this server's own event stream.
    expect(html).not.toMatch(/\b(src|href)=["']?(https?:)?\/\//);
    expect(html).toContain('new EventSource("events")');
    expect((await fetch(new URL("nope", url))).status).toBe(404);
  });

  it("streams the current screen at once and each new one after it", async () => {
    const server = await startKiosk();
    await server.display.show(idle);
    const response = await fetch(new URL("events", server.url));
    expect(response.headers.get("content-type")).toMatch(/text\/event-stream/);
    const reader = response.body?.getReader();
    if (!reader) throw new Error("no body");
    const decoder = new TextDecoder();
    let buffer = "";
    const nextScreen = async (): Promise<{ screen: { name: string }; qrSvg: string | null }> => {
      for (;;) {
        const match = buffer.match(/event: screen\ndata: (.*)\n\n/);
        if (match?.index !== undefined) {
          buffer = buffer.slice(match.index + match[0].length);
          return JSON.parse(match[1] as string);
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("stream ended");
        buffer += decoder.decode(value);
      }
    };
    const first = await nextScreen();
    expect(first.screen.name).toBe("idle");
    expect(first.qrSvg).toMatch(/^<svg/);
    await server.display.show(
      describeScreen({ screen: "payment-pending", amountMinor: 1000, currency: "EUR" }, context),
    );
    const second = await nextScreen();
    expect(second.screen.name).toBe("payment-pending");
    expect(second.qrSvg).toBeNull();
    await reader.cancel();
  });

  it("takes touch selections only for offered products on the choose-product screen", async () => {
    const server = await startKiosk();
    const actions: KioskAction[] = [];
    server.hub.onAction((action) => actions.push(action));
    const post = (path: string, body: unknown, type = "application/json") =>
      fetch(new URL(path, server.url), {
        method: "POST",
        headers: { "content-type": type },
        body: JSON.stringify(body),
      });
    await server.display.show(idle);
    expect((await post("select", { selection: "A1" })).status).toBe(409);
    await server.display.show(
      describeScreen(
        { screen: "choose-product", budgetLeftMinor: 200, currency: "EUR", deadline: Date.now() + 30_000 },
        context,
      ),
    );
    expect((await post("select", { selection: "B1" })).status).toBe(409); // does not fit the budget
    expect((await post("select", { selection: "A1; rm" })).status).toBe(400);
    expect((await post("select", { selection: "A1", extra: 1 })).status).toBe(400);
    expect((await post("select", { selection: "A1" }, "text/plain")).status).toBe(415);
    expect((await fetch(new URL("select", server.url))).status).toBe(405);
    expect((await post("select", { selection: "A2" })).status).toBe(202);
    expect((await post("done", {})).status).toBe(202);
    expect(actions).toEqual([{ kind: "select", selection: "A2" }, { kind: "done" }]);
  });
});

describe.runIf(hasTool("chromium") && hasTool("zbarimg"))("kiosk page and SVG sticker in Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("shows the QR, which decodes from a screenshot, and follows screen changes live", async () => {
    const server = await startKiosk();
    await server.display.show(describeScreen({ screen: "starting" }, context));
    const page = await browser.newPage({ viewport: { width: 800, height: 480 } });
    try {
      await page.goto(server.url);
      await page.waitForSelector('main[data-screen="starting"]');
      // The change reaches the open page through the event stream, without a reload.
      await server.display.show(idle);
      await page.waitForSelector("main[data-screen='idle'] #qr svg");
      expect(await page.textContent("#lines")).toContain("Scan with the SEQR app to pay");
      const shot = join(tempDir(), "kiosk.png");
      writeFileSync(shot, await page.screenshot());
      expect(zbarDecode(shot).text).toBe(expected);

      const shownAt = Date.now();
      await server.display.show(
        describeScreen(
          { screen: "choose-product", budgetLeftMinor: 200, currency: "EUR", deadline: shownAt + 30_000 },
          context,
        ),
      );
      await page.waitForSelector("main[data-screen='choose-product']");
      expect(await page.isVisible("#qr")).toBe(false);
      expect(
        await page
          .locator("#products button:not([disabled])")
          .evaluateAll((buttons) => buttons.map((b) => b.getAttribute("data-selection"))),
      ).toEqual(["A1", "A2"]);
      // The countdown counts from the deadline: whatever a loaded machine took to get here, it shows what is left.
      const countdown = (await page.textContent("#countdown")) ?? "";
      expect(countdown).toMatch(/^\d+ s left$/);
      const left = Number.parseInt(countdown, 10);
      expect(left).toBeLessThanOrEqual(30);
      expect(left).toBeGreaterThanOrEqual(Math.floor(30 - (Date.now() - shownAt) / 1_000) - 1);
      // A touch on a product reaches the agent as an action.
      const action = new Promise<KioskAction>((resolve) => server.hub.onAction(resolve));
      await page.click('#products button[data-selection="A2"]');
      expect(await action).toEqual({ kind: "select", selection: "A2" });

      // After the choose screen, nothing scannable is left on the page.
      const pending = join(tempDir(), "pending.png");
      writeFileSync(pending, await page.screenshot());
      expect(zbarDecode(pending).text).toBe("");
    } finally {
      await page.close();
    }
  });

  it("hides the QR when the agent is gone (the stream stays down)", async () => {
    const server = await startKiosk();
    await server.display.show(idle);
    const page = await browser.newPage({ viewport: { width: 480, height: 320 } });
    try {
      await page.goto(server.url);
      await page.waitForSelector("#qr svg");
      await server.close();
      await page.waitForSelector("body.offline #offline", { timeout: 10_000 });
      const shot = join(tempDir(), "offline.png");
      writeFileSync(shot, await page.screenshot());
      expect(zbarDecode(shot).text).toBe("");
    } finally {
      await page.close();
    }
  });

  it("the SVG sticker renders to a decodable image", async () => {
    const dir = tempDir();
    const svgFile = join(dir, "sticker.svg");
    writeStickerFiles(
      { payload: seqrQrPayload("acme", "K0001"), caption: "Scan with the SEQR app to pay", machineLabel: "K0001" },
      { svg: svgFile },
    );
    const page = await browser.newPage({ viewport: { width: 600, height: 700 } });
    try {
      await page.setContent(`<body style="margin:0;background:#fff">${readFileSync(svgFile, "utf8")}</body>`);
      const shot = join(dir, "sticker-svg.png");
      writeFileSync(shot, await page.screenshot());
      expect(zbarDecode(shot).text).toBe(expected);
    } finally {
      await page.close();
    }
  });
});

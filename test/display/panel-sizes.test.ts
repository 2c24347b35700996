import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KioskServer, startKioskServer } from "../../agent/display/kiosk-server.ts";
import { encodePng } from "../../agent/display/png.ts";
import { textHeight, textWidth } from "../../agent/display/raster.ts";
import { drawScreen, type LaidText, layoutScreen, pageMs, pageShownAt } from "../../agent/display/raster-screen.ts";
import { type DisplayState, describeScreen, type Screen, type ScreenContext } from "../../agent/display/screens.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { sampleScreenContext, showOnKioskPage } from "../../scripts/sample-screen-context.ts";
import { launchChromium } from "../helpers/browser.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { tempDir, zbarDecode } from "./image-tools.ts";

/**
 * The kiosk page on the panels these machines have (issue 21 item 13): the official 7" Raspberry Pi display (800x480)
 * and 7" 1024x600 panels, landscape and portrait. On each, every screen of design §7 keeps its customer text at least
 * 3.5 mm high (font size; readable at arm's length), the machine's small print at least 2 mm, every touch target at
 * least 9 mm both ways, and the idle QR decodes with zbarimg from a screenshot.
 */

interface Panel {
  name: string;
  width: number;
  height: number;
  diagonalInches: number;
}

const panels: Panel[] = [
  { name: "800x480 landscape", width: 800, height: 480, diagonalInches: 7 },
  { name: "800x480 portrait", width: 480, height: 800, diagonalInches: 7 },
  { name: "1024x600 landscape", width: 1024, height: 600, diagonalInches: 7 },
  { name: "1024x600 portrait", width: 600, height: 1024, diagonalInches: 7 },
];

function pxPerMm(panel: Panel): number {
  return Math.hypot(panel.width, panel.height) / panel.diagonalInches / 25.4;
}

const context = sampleScreenContext(Date.now());

const states: DisplayState[] = [
  { screen: "starting" },
  { screen: "idle" },
  { screen: "payment-pending", amountMinor: 2000, currency: "EUR", deadline: Date.now() + 170_000 },
  { screen: "choose-product", budgetLeftMinor: 300, currency: "EUR", deadline: Date.now() + 55_000 },
  { screen: "dispensing", selection: "A2" },
  { screen: "thank-you", vendedTotalMinor: 350, currency: "EUR" },
  { screen: "thank-you", vendedTotalMinor: 150, currency: "EUR", notDeliveredCount: 1 },
  { screen: "not-charged", why: "payment-cancelled" },
  { screen: "not-charged", why: "nothing-chosen" },
  { screen: "not-charged", why: "payment-timeout" },
  { screen: "vend-failed" },
  { screen: "out-of-service", reason: "The machine is being refilled" },
  // Selection first on a real machine: the keypad is the VMC's. (`on-screen`, the idle screen as the keypad, is the
  // simulated VMC's stand-in in the demo's browser frame, never a machine's panel.)
  { screen: "idle", chooseFirst: "on-machine" },
  { screen: "pay-for-selection", selection: "B1", priceMinor: 120, currency: "EUR", deadline: Date.now() + 50_000 },
];

/** The browser globals used inside page functions (the project's types have no DOM library). */
interface PageWindow {
  getComputedStyle(element: unknown): { fontSize: string; display: string; visibility: string };
}
interface PageElement {
  childNodes: ArrayLike<{ nodeType: number; textContent: string | null }>;
  closest(selector: string): unknown;
  getBoundingClientRect(): { width: number; height: number; bottom: number; right: number };
  tagName: string;
}

interface Measured {
  texts: { text: string; fontPx: number; smallPrint: boolean }[];
  targets: { label: string; width: number; height: number; bottom: number; right: number }[];
}

async function measure(page: Page): Promise<Measured> {
  return page.evaluate(() => {
    const win = globalThis as unknown as PageWindow & {
      document: { querySelectorAll(selector: string): ArrayLike<PageElement> };
    };
    const visible = (element: PageElement) => {
      const box = element.getBoundingClientRect();
      return box.width > 0 && box.height > 0 && win.getComputedStyle(element).visibility !== "hidden";
    };
    const texts: Measured["texts"] = [];
    for (const element of Array.from(win.document.querySelectorAll("main *, footer"))) {
      const own = Array.from(element.childNodes)
        .filter((node) => node.nodeType === 3)
        .map((node) => node.textContent ?? "")
        .join("")
        .trim();
      if (!own || !visible(element)) continue;
      texts.push({
        text: own,
        fontPx: Number.parseFloat(win.getComputedStyle(element).fontSize),
        smallPrint: element.closest("footer") !== null,
      });
    }
    const targets = Array.from(win.document.querySelectorAll("button"))
      .filter(visible)
      .map((button) => {
        const box = button.getBoundingClientRect();
        return {
          label: (button as unknown as { textContent: string }).textContent,
          width: box.width,
          height: box.height,
          bottom: box.bottom,
          right: box.right,
        };
      });
    return { texts, targets };
  });
}

describe.runIf(hasTool("chromium") && hasTool("zbarimg"))("the kiosk page on 7-inch panels", () => {
  let browser: Browser;
  let kiosk: KioskServer;
  beforeAll(async () => {
    browser = await launchChromium();
    kiosk = await startKioskServer({ host: "127.0.0.1", port: 0, clock: systemClock, logger: silentLogger() });
  }, 30_000);
  afterAll(async () => {
    await kiosk?.close();
    await browser?.close();
  });

  it.each(panels)(
    "$name: text sizes, touch targets and a decodable QR on every screen",
    async (panel) => {
      const page = await browser.newPage({ viewport: { width: panel.width, height: panel.height } });
      try {
        await kiosk.display.show(describeScreen({ screen: "starting" }, context));
        await page.goto(kiosk.url);
        const mm = pxPerMm(panel);
        const problems: string[] = [];
        for (const state of states) {
          const screen = await showOnKioskPage(kiosk, page, state, context);
          const { texts, targets } = await measure(page);
          for (const text of texts) {
            const minimum = text.smallPrint ? 2 : 3.5;
            if (text.fontPx / mm < minimum)
              problems.push(
                `${screen.title}: "${text.text}" is ${(text.fontPx / mm).toFixed(1)} mm, under ${minimum} mm`,
              );
          }
          for (const target of targets) {
            // On the panel, not cut off: the page does not scroll.
            if (target.bottom > panel.height + 0.5 || target.right > panel.width + 0.5)
              problems.push(`${screen.title}: button "${target.label}" is off the screen`);
            if (target.width / mm < 9 || target.height / mm < 9)
              problems.push(
                `${screen.title}: button "${target.label}" is ${(target.width / mm).toFixed(1)} x ${(target.height / mm).toFixed(1)} mm`,
              );
          }
          if (screen.qr) {
            await page.waitForSelector("#qr svg");
            const shot = join(tempDir(), `${panel.width}x${panel.height}-idle.png`);
            writeFileSync(shot, await page.screenshot());
            expect(zbarDecode(shot).text, panel.name).toBe(screen.qr.payload);
          }
        }
        expect(problems).toEqual([]);
      } finally {
        await page.close();
      }
    },
    120_000,
  );
});

/**
 * The SPI panels the framebuffer renderer drives. Sizes from the diagonal, like the 7-inch panels above: a 2.8-inch
 * 320x240 ILI9341 module is 400 px on the diagonal, 2.8 x 25.4 / 400 = 0.178 mm a pixel (the 4D Systems
 * 4DLCD-28320240 data sheet gives 43.20 x 57.60 mm active area, 0.180 mm dot pitch); a 3.5-inch 480x320 ILI9486
 * module is 577 px on the diagonal, 3.5 x 25.4 / 577 = 0.154 mm a pixel (73.9 x 49.3 mm).
 */
const spiPanels: Panel[] = [
  { name: "2.8-inch 320x240 landscape", width: 320, height: 240, diagonalInches: 2.8 },
  { name: "2.8-inch 240x320 portrait", width: 240, height: 320, diagonalInches: 2.8 },
  { name: "3.5-inch 480x320 landscape", width: 480, height: 320, diagonalInches: 3.5 },
  { name: "3.5-inch 320x480 portrait", width: 320, height: 480, diagonalInches: 3.5 },
];

const spaced = (text: string) => text.replace(/\s+/g, " ").trim();

/** What the customer must be able to read on `screen`, in reading order: nothing may be left out for lack of room. */
function wordingsOf(screen: Screen): string[][] {
  const wordings = [[screen.title, ...screen.lines]];
  if (screen.compact) wordings.push([screen.compact.title, ...screen.compact.lines]);
  return wordings;
}
function requiredOf(screen: Screen): string[] {
  return [
    ...(screen.countdown ? [`${screen.countdown.secondsLeft} s left`] : []),
    ...(screen.products ?? []).map((product) => `${product.selection} ${product.name} ${product.priceText}`),
    ...(screen.overBudget ?? []).map(
      (product) => `${product.selection} ${product.name} ${product.priceText}: over your budget`,
    ),
    screen.footer,
  ];
}

/** A page's text in reading order (top to bottom, then left to right), as one spaced string. */
function readPage(page: readonly LaidText[]): string {
  return spaced(
    [...page]
      .sort((a, b) => a.y - b.y || a.x - b.x)
      .map((text) => text.text)
      .join(" "),
  );
}

const inReadingOrder = (page: readonly LaidText[]) => [...page].sort((a, b) => a.y - b.y || a.x - b.x);

/**
 * All pages' text as the customer reads it: the first page, then what each later page adds below the heading it
 * repeats (the rows at the same place with the same text), then the small print.
 */
function readPages(pages: readonly LaidText[][]): string {
  const main = pages.map((page) => inReadingOrder(page.filter((text) => !text.smallPrint)));
  const first = main[0] ?? [];
  const added = main.slice(1).map((page) => {
    let same = 0;
    while (same < page.length && page[same]?.text === first[same]?.text && page[same]?.y === first[same]?.y) same++;
    return page.slice(same);
  });
  const smallPrint = inReadingOrder((pages[0] ?? []).filter((text) => text.smallPrint));
  return spaced([...first, ...added.flat(), ...smallPrint].map((text) => text.text).join(" "));
}

function layoutProblems(screen: Screen, panel: Panel, now: number): string[] {
  const layout = layoutScreen(screen, panel.width, panel.height, { now });
  const mm = pxPerMm(panel);
  const problems: string[] = [];
  const boxes = layout.pages.flat();
  for (const text of boxes) {
    const heightMm = textHeight(text.scale) / mm;
    const minimum = text.smallPrint ? 2 : 3.5;
    if (heightMm < minimum)
      problems.push(`${screen.title}: "${text.text}" is ${heightMm.toFixed(2)} mm high, under ${minimum} mm`);
    const right = text.x + textWidth(text.text, text.scale);
    const bottom = text.y + textHeight(text.scale);
    if (text.x < 0 || text.y < layout.bar.height || right > panel.width || bottom > panel.height)
      problems.push(`${screen.title}: "${text.text}" is drawn outside the panel`);
    const qr = layout.qr;
    if (qr && text.x < qr.x + qr.side && right > qr.x && text.y < qr.y + qr.side && bottom > qr.y)
      problems.push(`${screen.title}: "${text.text}" is drawn over the QR`);
  }
  const everything = readPages(layout.pages);
  const wording = wordingsOf(screen).find((lines) => lines.every((line) => everything.includes(spaced(line))));
  if (!wording) problems.push(`${screen.title}: neither wording is shown in full: ${everything}`);
  for (const line of requiredOf(screen))
    if (!everything.includes(spaced(line))) problems.push(`${screen.title}: "${line}" is not shown: ${everything}`);
  return problems;
}

/** A machine with a long product list: more than any SPI panel shows at once. */
const bigMachine: ScreenContext = {
  ...context,
  catalog: {
    currency: "EUR",
    products: Object.fromEntries(
      Array.from({ length: 30 }, (_, index) => [
        `${"ABCDE".charAt(Math.floor(index / 6))}${(index % 6) + 1}`,
        { name: `Product ${index + 1}`, sku: `P${index}`, priceMinor: 100 + index * 20 },
      ]),
    ),
  },
};

const longReason = "The vend mechanism reported a fault: motor 3 drew too much current. ".repeat(5).slice(0, 300);

describe.runIf(hasTool("zbarimg"))("the framebuffer renderer on SPI panels", () => {
  it.each(spiPanels)(
    "$name: every line of every screen at least 3.5 mm high (small print 2 mm), none left out, inside the panel",
    (panel) => {
      const screens = [
        ...states.map((state) => describeScreen(state, context)),
        describeScreen(
          { screen: "choose-product", budgetLeftMinor: 300, currency: "EUR", deadline: context.now + 55_000 },
          bigMachine,
        ),
        // A fault's message can be 300 characters long (vend-session keeps that much): in pages, not in small type.
        describeScreen({ screen: "out-of-service", reason: longReason }, context),
        describeScreen({ screen: "vend-failed", selection: "A1", detail: longReason.slice(0, 120) }, context),
      ];
      const problems = screens.flatMap((screen) => layoutProblems(screen, panel, context.now));
      expect(problems).toEqual([]);
    },
  );

  it.each(spiPanels)("$name: the idle QR decodes, and every screen draws at the panel's size", (panel) => {
    const { width, height } = panel;
    const idle = describeScreen({ screen: "idle" }, context);
    const raster = drawScreen(idle, width, height, { now: context.now });
    const file = join(tempDir(), `fb-${width}x${height}.png`);
    writeFileSync(file, encodePng(raster));
    expect(zbarDecode(file).text).toBe(idle.qr?.payload);
    for (const state of states) {
      const drawn = drawScreen(describeScreen(state, context), width, height, { now: context.now });
      expect([drawn.width, drawn.height]).toEqual([width, height]);
    }
  });
});

describe("a product list too long for the panel", () => {
  it("is drawn page by page, each page in turn for pageMs, the heading on every page", () => {
    const screen = describeScreen(
      { screen: "choose-product", budgetLeftMinor: 300, currency: "EUR", deadline: context.now + 55_000 },
      bigMachine,
    );
    const start = context.now - (context.now % pageMs);
    const layout = layoutScreen(screen, 320, 240, { now: start });
    expect(layout.pages.length).toBeGreaterThan(2);
    for (const page of layout.pages) expect(readPage(page)).toContain(spaced(screen.compact?.title ?? screen.title));
    // Page after page, each for pageMs, and round again.
    const count = layout.pages.length;
    const first = pageShownAt(layout, start);
    const shown = Array.from({ length: count + 1 }, (_, index) =>
      pageShownAt(layout, start + index * pageMs + pageMs - 1),
    );
    expect(shown).toEqual(Array.from({ length: count + 1 }, (_, index) => (first + index) % count));
    const frames = layout.pages.map((_, index) =>
      Buffer.from(drawScreen(screen, 320, 240, { now: start + index * pageMs }).data).toString("base64"),
    );
    expect(new Set(frames).size).toBe(layout.pages.length);
  });
});

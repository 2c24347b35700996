import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type KioskAction, type KioskServer, startKioskServer } from "../../agent/display/kiosk-server.ts";
import { type DisplayState, describeScreen } from "../../agent/display/screens.ts";
import { systemClock } from "../../platform/clock.ts";
import { silentLogger } from "../../platform/logger.ts";
import { launchChromium } from "../helpers/browser.ts";
import { hasTool } from "../helpers/system-tools.ts";
import { kioskContext } from "./kiosk-context.ts";

/**
 * What the customer sees on the kiosk page in a real browser (issue 21): the end screens each say what happened,
 * products over the budget are greyed with "over your budget" and cannot be touched, and the payment wait shows a
 * countdown and a Cancel.
 */

/** The one browser global these tests use inside page functions (the project's types have no DOM library). */
interface BrowserWindow {
  getComputedStyle(element: unknown): { opacity: string; fontSize: string };
}

const context = kioskContext({ id: "K0002", name: "Customer screens" });

describe.runIf(hasTool("chromium"))("the kiosk page's customer screens in Chromium", () => {
  let browser: Browser;
  let kiosk: KioskServer | undefined;
  let page: Page | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await page?.close();
    page = undefined;
    await kiosk?.close();
    kiosk = undefined;
  });

  async function open(state: DisplayState): Promise<{ server: KioskServer; page: Page }> {
    kiosk = await startKioskServer({
      host: "127.0.0.1",
      port: 0,
      clock: systemClock,
      logger: silentLogger(),
    });
    await kiosk.display.show(describeScreen(state, { ...context, now: Date.now() }));
    page = await browser.newPage({ viewport: { width: 800, height: 480 } });
    await page.goto(kiosk.url);
    return { server: kiosk, page };
  }

  it("products over the budget left are greyed, say over your budget, and cannot be chosen", async () => {
    const { server, page } = await open({
      screen: "choose-product",
      budgetLeftMinor: 150,
      currency: "EUR",
      deadline: Date.now() + 60_000,
    });
    const actions: KioskAction[] = [];
    server.hub.onAction((action) => actions.push(action));
    await page.waitForSelector("main[data-screen='choose-product'] #products button");
    const buttons = await page.locator("#products button").evaluateAll((all) =>
      all.map((b) => ({
        selection: b.getAttribute("data-selection"),
        disabled: b.hasAttribute("disabled"),
        text: b.textContent,
        opacity: Number((globalThis as unknown as BrowserWindow).getComputedStyle(b).opacity),
      })),
    );
    expect(buttons.map((b) => [b.selection, b.disabled])).toEqual([
      ["A1", false],
      ["A2", true],
      ["B1", true],
    ]);
    expect(buttons[1]?.text).toContain("over your budget");
    expect(buttons[1]?.opacity).toBeLessThan(0.7);
    expect(buttons[0]?.text).not.toContain("over your budget");
    await page.locator('#products button[data-selection="B1"]').click({ force: true });
    await page.locator('#products button[data-selection="A1"]').click();
    await expect.poll(() => actions, { timeout: 20_000 }).toEqual([{ kind: "select", selection: "A1" }]);
  });

  it("the payment wait shows a countdown and a Cancel that reaches the agent; Cancel is refused on other screens", async () => {
    const { server, page } = await open({
      screen: "payment-pending",
      amountMinor: 500,
      currency: "EUR",
      deadline: Date.now() + 90_000,
    });
    const actions: KioskAction[] = [];
    server.hub.onAction((action) => actions.push(action));
    await page.waitForSelector("main[data-screen='payment-pending']");
    expect(await page.textContent("#countdown")).toMatch(/^(8\d|90) s left$/);
    const cancel = page.getByRole("button", { name: "Cancel" });
    await cancel.click();
    await expect.poll(() => actions, { timeout: 20_000 }).toEqual([{ kind: "cancel" }]);

    const post = (path: string) =>
      fetch(new URL(path, server.url), { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    await server.display.show(describeScreen({ screen: "idle" }, context));
    await page.waitForSelector("main[data-screen='idle']");
    expect(await cancel.isVisible()).toBe(false);
    expect((await post("cancel")).status).toBe(409);
    expect(actions).toEqual([{ kind: "cancel" }]);
  });

  it.each([
    [{ screen: "not-charged", why: "payment-cancelled" }, "Payment cancelled", "neutral"],
    [{ screen: "not-charged", why: "nothing-chosen" }, "Nothing chosen", "neutral"],
    [{ screen: "vend-failed" }, "Sorry, the vend failed", "error"],
    [
      { screen: "thank-you", vendedTotalMinor: 150, currency: "EUR", notDeliveredCount: 1 },
      "Partly delivered",
      "success",
    ],
  ] as [DisplayState, string, string][])("end screen %j reads %s", async (state, title, tone) => {
    const { page } = await open(state);
    await page.waitForSelector(`main[data-tone='${tone}'] h1`);
    expect(await page.textContent("h1")).toBe(title);
  });
});

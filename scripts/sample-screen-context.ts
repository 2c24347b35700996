import type { Page } from "playwright-core";
import type { KioskServer } from "../agent/display/kiosk-server.ts";
import { type DisplayState, describeScreen, type ScreenContext } from "../agent/display/screens.ts";

/**
 * The sample machine the screenshots and the panel-size test draw every customer screen for: four products in EUR
 * and the usual idle text, at the given time.
 */
export function sampleScreenContext(now: number): ScreenContext {
  return {
    machine: { id: "M0042", merchantId: "acme", name: "Lobby drinks" },
    catalog: {
      currency: "EUR",
      products: {
        A1: { name: "Still water", sku: "W", priceMinor: 150 },
        A2: { name: "Cola", sku: "C", priceMinor: 200 },
        B1: { name: "Chocolate bar", sku: "CH", priceMinor: 120 },
        B2: { name: "Sandwich", sku: "S", priceMinor: 450 },
      },
    },
    idleText: "Scan with the SEQR app to pay",
    now,
  };
}

/** Shows `state` on the kiosk and waits until the page in Chromium has drawn its title; returns the screen shown. */
export async function showOnKioskPage(kiosk: KioskServer, page: Page, state: DisplayState, context: ScreenContext) {
  const screen = describeScreen(state, { ...context, now: Date.now() });
  await kiosk.display.show(screen);
  await page.waitForFunction(
    (title) =>
      (
        globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }
      ).document.getElementById("title").textContent === title,
    screen.title,
  );
  return screen;
}

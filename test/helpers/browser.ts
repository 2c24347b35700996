import { type Browser, chromium } from "playwright-core";

/**
 * Debian's Chromium, headless, driven by playwright-core (no browser download). The flags keep it off the network:
 * this machine has none, and background requests would only fail and slow the start.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

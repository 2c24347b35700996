import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { launchChromium } from "../helpers/browser.ts";
import { type Kit, startKit } from "./seqr-test-kit.ts";

/** One Chromium for the describe block and a fresh seqr kit for each test; read the fields inside the tests. */
export interface ChromiumKit {
  browser: Browser;
  kit: Kit;
}

/** Registers the hooks that launch and close the browser and start and close the kit around each test. */
export function useChromiumKit(): ChromiumKit {
  const env = {} as ChromiumKit;
  beforeAll(async () => {
    env.browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await env.browser?.close();
  });
  beforeEach(async () => {
    env.kit = await startKit();
  });
  afterEach(async () => {
    await env.kit.close();
  });
  return env;
}

import type { AgentConfig } from "../../config/schema/agent.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import type { KioskAction } from "./kiosk-server.ts";
import { createNullDisplay, type Display, type DisplayState, describeScreen, type ScreenContext } from "./screens.ts";

/**
 * Builds the renderer named by config display.renderer. The agent core gets back a `show(state)` that turns agent
 * state into a screen (the pure screen model) and draws it, plus the kiosk's touch actions when there is a kiosk.
 * Only the configured renderer's code is loaded (import() below): the others, and the QR encoder when no renderer
 * draws a QR, would sit in the idle agent's memory for nothing.
 */

export interface ScreenOutput {
  readonly renderer: AgentConfig["display"]["renderer"];
  /** The kiosk page's address, for the logs and for Chromium's command line. */
  readonly url?: string;
  readonly display: Display;
  show(state: DisplayState): Promise<void>;
  /** Touch actions from the kiosk page (no-op subscription for other renderers). */
  onAction(listener: (action: KioskAction) => void): () => void;
  close(): Promise<void>;
}

export interface ScreenOutputDeps {
  clock: Clock;
  logger: Logger;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
  /** The catalog in force (a signed cmd/config may replace the configured one at run time). */
  catalog?: () => Catalog;
}

export async function createScreenOutput(
  config: Pick<AgentConfig, "machine" | "catalog" | "display">,
  deps: ScreenOutputDeps,
): Promise<ScreenOutput> {
  let display: Display;
  let url: string | undefined;
  let onAction: ScreenOutput["onAction"] = () => () => {};
  switch (config.display.renderer) {
    case "kiosk": {
      const { startKioskServer } = await import("./kiosk-server.ts");
      const kiosk = await startKioskServer({
        host: config.display.kioskHost,
        port: config.display.kioskPort,
        clock: deps.clock,
        logger: deps.logger,
        title: config.machine.name ?? `SEQR ${config.machine.id}`,
      });
      display = kiosk.display;
      url = kiosk.url;
      onAction = (listener) => kiosk.hub.onAction(listener);
      break;
    }
    case "framebuffer": {
      const { createFramebufferDisplay } = await import("./framebuffer.ts");
      display = createFramebufferDisplay({
        device: config.display.framebufferDevice,
        panelDiagonalInches: config.display.panelDiagonalInches,
        clock: deps.clock,
        logger: deps.logger,
      });
      break;
    }
    case "terminal": {
      const { createTerminalDisplay } = await import("./terminal.ts");
      display = createTerminalDisplay({
        stream: deps.stdout ?? process.stdout,
        env: deps.env ?? process.env,
        clock: deps.clock,
      });
      break;
    }
    case "none":
      display = createNullDisplay();
      break;
  }
  const context = (): ScreenContext => ({
    machine: config.machine,
    catalog: deps.catalog?.() ?? config.catalog,
    idleText: config.display.idleText,
    now: deps.clock.now(),
  });
  return {
    renderer: config.display.renderer,
    ...(url === undefined ? {} : { url }),
    display,
    show: async (state) => {
      await display.show(describeScreen(state, context()));
    },
    onAction,
    close: async () => {
      await display.close();
    },
  };
}

import { EventEmitter } from "node:events";
import type { Logger } from "../platform/logger.ts";
import type { MechanismEvents } from "./vend-mechanism.ts";

/**
 * The typed `on`/`off` half of VendMechanism, shared by every driver. A listener that throws is logged and swallowed:
 * it runs inside a serial or GPIO data handler, and one buggy listener must not tear the link down mid-vend.
 */
export class MechanismEmitter {
  readonly #events = new EventEmitter();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
    this.#events.setMaxListeners(50);
  }

  on<E extends keyof MechanismEvents>(event: E, listener: MechanismEvents[E]): this {
    this.#events.on(event, listener);
    return this;
  }

  off<E extends keyof MechanismEvents>(event: E, listener: MechanismEvents[E]): this {
    this.#events.off(event, listener);
    return this;
  }

  protected emit<E extends keyof MechanismEvents>(event: E, ...args: Parameters<MechanismEvents[E]>): void {
    for (const listener of this.#events.listeners(event)) {
      try {
        (listener as (...values: unknown[]) => void)(...args);
      } catch (error) {
        this.#log.error({ err: error, event }, "a vend mechanism listener threw; ignored");
      }
    }
  }
}

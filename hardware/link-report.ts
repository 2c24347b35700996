/**
 * The link state a serial driver reports: `link` is emitted only when the state changes, and start() callers wait
 * for the first "up". Shared by the drivers whose link is up only once the far end talks (MDB adapter, spiral board),
 * not just when the port opens.
 */
export class LinkReport {
  readonly #emitLink: (state: "up" | "down", detail?: string) => void;
  #reported: "up" | "down" = "down";
  #upWaiters: Array<() => void> = [];

  constructor(emitLink: (state: "up" | "down", detail?: string) => void) {
    this.#emitLink = emitLink;
  }

  report(state: "up" | "down", detail?: string): void {
    if (this.#reported === state) return;
    this.#reported = state;
    if (state === "up") for (const resolve of this.#upWaiters.splice(0)) resolve();
    this.#emitLink(state, detail);
  }

  /**
   * Starts the transport and resolves once the link is reported up. The waiter is registered before the transport
   * starts, so an "up" reported while it is still starting is not missed.
   */
  async start(alreadyUp: boolean, startTransport: () => Promise<void>): Promise<void> {
    const up = new Promise<void>((resolve) => {
      if (alreadyUp) resolve();
      else this.#upWaiters.push(resolve);
    });
    await startTransport();
    await up;
  }
}

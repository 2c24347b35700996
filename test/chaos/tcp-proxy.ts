import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

/**
 * A TCP proxy between a machine and its MQTT broker that the chaos nemesis steers: it forwards bytes unchanged, and on
 * command delays every chunk (a slow cellular link: an `unlocked` that arrives late), holds them (a partition: TCP
 * keeps the connection and retransmits, so everything arrives, in order, once the link heals) or cuts the link (reset
 * the connections and refuse new ones). Order is kept in both directions whatever the delay does: MQTT is a stream.
 */

export interface ProxyTarget {
  host: string;
  port: number;
}

interface Pipe {
  client: Socket;
  upstream: Socket;
}

export class ChaosProxy {
  readonly #server: Server;
  readonly #target: ProxyTarget;
  readonly #pipes = new Set<Pipe>();
  readonly #held: Array<() => void> = [];
  #delayMs = 0;
  #holding = false;
  #cut = false;
  #closed = false;
  /** Connections accepted since start (for tests and failure messages). */
  accepted = 0;
  /** Chunks that entered the proxy since start, either way (positive evidence for tests). */
  chunksIn = 0;

  private constructor(server: Server, target: ProxyTarget) {
    this.#server = server;
    this.#target = target;
  }

  /** Listens on 127.0.0.1:`port` (0: any free port) and forwards to `target`. */
  static async start(target: ProxyTarget, port = 0): Promise<ChaosProxy> {
    const server = createServer();
    const proxy = new ChaosProxy(server, target);
    server.on("connection", (client) => proxy.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port }, () => resolve());
    });
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    if (!address || typeof address === "string") throw new Error("the proxy is not listening");
    return address.port;
  }

  get connections(): number {
    return this.#pipes.size;
  }

  /** Every chunk from now on reaches the other side `ms` later (0: at once), in order. */
  setDelay(ms: number): void {
    this.#delayMs = Math.max(0, ms);
  }

  /** A partition that TCP survives: nothing is forwarded, everything is kept, until `release`. */
  hold(): void {
    this.#holding = true;
  }

  release(): void {
    this.#holding = false;
    for (const deliver of this.#held.splice(0)) deliver();
  }

  /** Resets every connection and refuses new ones until `restore`. */
  cut(): void {
    this.#cut = true;
    this.#held.splice(0);
    for (const pipe of this.#pipes) {
      pipe.client.destroy();
      pipe.upstream.destroy();
    }
    this.#pipes.clear();
  }

  /** Back to a clean link: no delay, nothing held, new connections accepted. */
  heal(): void {
    this.#cut = false;
    this.#delayMs = 0;
    this.release();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.#cut || this.#closed) {
      client.destroy();
      return;
    }
    this.accepted += 1;
    client.setNoDelay(true);
    const upstream = tcpConnect({ host: this.#target.host, port: this.#target.port });
    upstream.setNoDelay(true);
    const pipe: Pipe = { client, upstream };
    this.#pipes.add(pipe);
    const end = () => {
      if (!this.#pipes.delete(pipe)) return;
      // Let data already scheduled drain before the other side learns of the close: as TCP would.
      this.#schedule(() => {
        client.destroy();
        upstream.destroy();
      }, pipe);
    };
    const forward = (from: Socket, to: Socket) => {
      // One FIFO per direction drained by one timer: chunks leave in the order they came, whatever the timers do.
      const queue: Array<{ chunk: Buffer; releaseAt: number }> = [];
      let timer: NodeJS.Timeout | undefined;
      const drain = () => {
        timer = undefined;
        while (queue.length > 0 && queue[0]!.releaseAt <= Date.now()) {
          const { chunk } = queue.shift()!;
          this.#schedule(() => {
            if (!to.destroyed) to.write(chunk);
          }, pipe);
        }
        if (queue.length > 0) timer = setTimeout(drain, Math.max(1, queue[0]!.releaseAt - Date.now()));
      };
      from.on("data", (chunk: Buffer) => {
        this.chunksIn += 1;
        queue.push({ chunk, releaseAt: Date.now() + this.#delayMs });
        if (timer === undefined) drain();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
  }

  /** Runs `deliver` now, or when the hold ends; nothing runs for a pipe that was cut meanwhile. */
  #schedule(deliver: () => void, pipe: Pipe): void {
    const guarded = () => {
      if (!pipe.client.destroyed || !pipe.upstream.destroyed) deliver();
    };
    if (this.#holding) this.#held.push(guarded);
    else guarded();
  }
}

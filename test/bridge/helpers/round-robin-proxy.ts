import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * One public address in front of several bridge instances, as a load balancer: each request goes to the next
 * instance in turn; an instance that refuses the connection (dead, or not started yet) is skipped for the next one,
 * so a killed instance costs the caller nothing. A request an instance accepted and then dropped (killed mid-request)
 * is answered 502 and not retried: the proxy cannot know whether it acted on it.
 */
export class RoundRobinProxy {
  readonly #server: Server;
  readonly #upstreams: URL[];
  #next = 0;
  #preferred: number | undefined;
  /** Every request answered: its path and the index of the instance that answered it. */
  readonly answered: { path: string; upstream: number }[] = [];

  private constructor(server: Server, upstreams: string[]) {
    this.#server = server;
    this.#upstreams = upstreams.map((upstream) => new URL(upstream));
  }

  /** Listens on `port` (0: a free one) on loopback, in front of the instances' base URLs. */
  static async start(upstreams: string[], port = 0): Promise<RoundRobinProxy> {
    const server = createServer();
    const proxy = new RoundRobinProxy(server, upstreams);
    server.on("request", (incoming, outgoing) => {
      proxy.#forward(incoming, outgoing).catch((error: unknown) => {
        if (!outgoing.headersSent) outgoing.writeHead(502);
        outgoing.end(String(error));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Sends every request to instance `index` first while it accepts connections (undefined: round robin again). */
  prefer(index: number | undefined): void {
    this.#preferred = index;
  }

  /** How many requests whose path starts with `prefix` each instance answered. */
  answeredBy(prefix: string): number[] {
    const counts = this.#upstreams.map(() => 0);
    for (const { path, upstream } of this.answered) if (path.startsWith(prefix)) counts[upstream]! += 1;
    return counts;
  }

  async #forward(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const first = this.#preferred ?? this.#next;
    this.#next = (this.#next + 1) % this.#upstreams.length;
    for (let attempt = 0; attempt < this.#upstreams.length; attempt++) {
      const index = (first + attempt) % this.#upstreams.length;
      const answer = await this.#send(this.#upstreams[index]!, incoming, body);
      if (answer === "refused") continue;
      this.answered.push({ path: incoming.url ?? "", upstream: index });
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      for await (const chunk of answer) outgoing.write(chunk);
      outgoing.end();
      return;
    }
    outgoing.writeHead(502).end("no instance accepted the connection");
  }

  #send(upstream: URL, incoming: IncomingMessage, body: Buffer): Promise<IncomingMessage | "refused"> {
    return new Promise((resolve, reject) => {
      const forwarded = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: incoming.method,
          path: incoming.url,
          // The body is forwarded whole: its length replaces any chunked encoding of the caller's.
          headers: {
            ...Object.fromEntries(Object.entries(incoming.headers).filter(([name]) => name !== "transfer-encoding")),
            host: upstream.host,
            "content-length": String(body.length),
          },
        },
        resolve,
      );
      forwarded.once("error", (error: NodeJS.ErrnoException) =>
        error.code === "ECONNREFUSED" ? resolve("refused") : reject(error),
      );
      forwarded.end(body);
    });
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

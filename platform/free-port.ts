import { createServer } from "node:net";

/**
 * TCP ports for local servers started by the demo, benches and tests: a free one chosen by the kernel, or a preferred
 * one when it is free. The port is released before it is returned, so another process may take it first; callers
 * that cannot retry should listen on port 0 themselves instead.
 */

export interface ChosenPort {
  port: number;
  preferred: number;
  changed: boolean;
}

function tryListen(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/** A port the kernel says is free on `host` now. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const free = await tryListen(0, host);
  if (free === undefined) throw new Error(`no free TCP port on ${host}`);
  return free;
}

/**
 * The preferred port when it is free, else a free one, and says which: the demo must start on a laptop where 1883
 * (a local Mosquitto) or 8080 is already taken.
 */
export async function choosePort(preferred: number, host = "127.0.0.1"): Promise<ChosenPort> {
  const exact = await tryListen(preferred, host);
  if (exact !== undefined) return { port: exact, preferred, changed: false };
  return { port: await freePort(host), preferred, changed: true };
}

import { createServer } from "node:net";

/**
 * Picks the preferred port when it is free, else a free one chosen by the kernel, and says which. The demo must start
 * on a laptop where 1883 (a local Mosquitto) or 8080 is already taken.
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

export async function choosePort(preferred: number, host = "127.0.0.1"): Promise<ChosenPort> {
  const exact = await tryListen(preferred, host);
  if (exact !== undefined) return { port: exact, preferred, changed: false };
  const free = await tryListen(0, host);
  if (free === undefined) throw new Error(`no free TCP port on ${host}`);
  return { port: free, preferred, changed: true };
}

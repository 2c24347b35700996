import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/** Listens on `host:port` (0: any free port); rejects with the bind error (EADDRINUSE, EACCES) instead of emitting it. */
export async function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/** `scheme://host:port` of a listening server, with an IPv6 host in brackets. */
export function serverOrigin(server: Server, scheme: "http" | "https"): string {
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

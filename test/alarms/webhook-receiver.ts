import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  headers: IncomingMessage["headers"];
  body: string;
}

const servers: { server: Server; hanging: ServerResponse[] }[] = [];

/**
 * A local webhook receiver on loopback: answers each request with the next of `answers` (a status, or "hang" to
 * never answer), 204 once they are used up. Close them all with closeReceivers() after each test.
 */
export async function receiver(answers: (number | "hang")[] = []): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    received.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
    const answer = answers.shift() ?? 204;
    if (answer === "hang") hanging.push(response);
    else response.writeHead(answer).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push({ server, hanging });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

export async function closeReceivers(): Promise<void> {
  for (const { server, hanging } of servers.splice(0)) {
    for (const response of hanging) response.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ChaosProxy } from "./tcp-proxy.ts";

/** The chaos test's link proxy: it must forward bytes in order, and its delay, hold and cut must do what they say. */

let echo: Server;
let proxy: ChaosProxy;
const sockets: Socket[] = [];

beforeEach(async () => {
  echo = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  const address = echo.address();
  if (!address || typeof address === "string") throw new Error("no echo port");
  proxy = await ChaosProxy.start({ host: "127.0.0.1", port: address.port });
});

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  await proxy.close();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

function client(): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: "127.0.0.1", port: proxy.port });
    sockets.push(socket);
    let text = "";
    let closed = false;
    socket.on("data", (chunk) => {
      text += chunk.toString();
    });
    socket.on("close", () => {
      closed = true;
    });
    socket.once("error", reject);
    socket.once("connect", () => resolve({ socket, received: () => text, closed: () => closed }));
  });
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((wait) => setTimeout(wait, 10));
  }
}

describe("ChaosProxy", () => {
  it("forwards both ways unchanged", async () => {
    const c = await client();
    c.socket.write("hello");
    await until("the echo", () => c.received() === "hello");
  });

  it("delays every chunk and keeps their order when the delay shrinks", async () => {
    const c = await client();
    proxy.setDelay(400);
    const sentAt = Date.now();
    const before = proxy.chunksIn;
    c.socket.write("a");
    // Shrink the delay only once "a" is inside the proxy under the long delay (not after a guessed sleep).
    await until("a inside the proxy", () => proxy.chunksIn > before);
    proxy.setDelay(0);
    c.socket.write("b");
    await until("both chunks", () => c.received().length === 2);
    expect(c.received()).toBe("ab");
    // The first chunk went up and came back through a delayed proxy: at least its one-way delay passed.
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(390);
  });

  it("holds everything during a partition and delivers it in order on release", async () => {
    const c = await client();
    proxy.hold();
    c.socket.write("one,");
    c.socket.write("two");
    // Positive evidence that the hold works: the bytes are queued at the proxy, none came back yet.
    await new Promise((wait) => setTimeout(wait, 100));
    expect(c.received()).toBe("");
    proxy.release();
    await until("the held bytes", () => c.received() === "one,two");
    expect(c.closed()).toBe(false);
  });

  it("cuts the link and refuses new connections until healed", async () => {
    const c = await client();
    proxy.cut();
    await until("the reset", () => c.closed());
    const refused = await client();
    await until("the refusal", () => refused.closed());
    proxy.heal();
    const again = await client();
    again.socket.write("back");
    await until("the echo after healing", () => again.received() === "back");
  });
});

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { type EmbeddedBroker, listenBacklog } from "../../backend-bridge/broker/embedded-broker.ts";
import { startTestBroker } from "./helpers.ts";

/**
 * After a broker or network restart every machine of the fleet opens its TCP connection in the same second. Node
 * listens with a backlog of 511: the kernel's queue of connections not yet accepted overflowed (TcpExtListenOverflows
 * grew by 159,496 during the 5,000-machine storms of bench/reconnect-storm.ts) and each dropped handshake waited for
 * the client's SYN retransmission, 1, 3, 7, 15, 31 s: the storm's CONNACK deciles were exactly those steps. The
 * listeners ask for as long a queue as the kernel gives (net.core.somaxconn, docs/install-bridge.md).
 */

let broker: EmbeddedBroker | undefined;
afterEach(async () => {
  await broker?.close();
  broker = undefined;
});

/** The accept queue length the kernel gave the listening socket on `port` (`ss`'s Send-Q of a listener). */
function backlogOf(port: number): number {
  const line =
    execFileSync("ss", ["-ltnH", `sport = :${port}`], { encoding: "utf8" })
      .trim()
      .split("\n")[0] ?? "";
  const [, , sendQ] = line.trim().split(/\s+/);
  return Number(sendQ);
}

describe("the embedded broker's listener", () => {
  it("has the longest accept queue the kernel allows, not Node's 511", async () => {
    broker = await startTestBroker();
    const somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8").trim());
    expect(backlogOf(broker.tcpPort as number)).toBe(Math.min(somaxconn, listenBacklog));
  });
});

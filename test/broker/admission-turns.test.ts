import { describe, expect, it } from "vitest";
import { admitInTurns, admittedPerTurn } from "../../backend-bridge/broker/embedded-broker.ts";

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A burst of 10,000 connections (a flood of bad logins, a fleet reconnecting) was handed to aedes in one go, and
 * createPurchase waited behind all of them (p99 0.9 s in bench/reconnect-storm.ts --flood). They are handed over a
 * batch per turn of the event loop, so that what else is ready (HTTP, SEQR's answers) runs in between.
 */
describe("handing a burst of connections to the broker", () => {
  it("hands over at most one batch per turn of the event loop, in arrival order, skipping sockets already closed", async () => {
    const handled: number[] = [];
    const admit = admitInTurns((socket: { id: number; destroyed: boolean }) => handled.push(socket.id));
    const count = admittedPerTurn * 2 + 7;
    for (let id = 0; id < count; id++) admit({ id, destroyed: id === 3 });
    expect(handled).toEqual([]);
    await turn();
    expect(handled).toHaveLength(admittedPerTurn);
    await turn();
    expect(handled).toHaveLength(admittedPerTurn * 2);
    await turn();
    expect(handled).toEqual(Array.from({ length: count }, (_, id) => id).filter((id) => id !== 3));
    // Idle again: a later connection starts a new round.
    admit({ id: 1_000, destroyed: false });
    await turn();
    expect(handled.at(-1)).toBe(1_000);
  });
});

import type { Duplex } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LineFramer } from "../../hardware/mdb/line-framer.ts";
import { duplexPair } from "../../hardware/simulators/duplex-pair.ts";
import { VmcSimulator, type VmcSimulatorOptions } from "../../hardware/simulators/vmc-simulator.ts";

/**
 * The VMC simulator against the lines real Qibixx adapters print (docs/mdb-adapters.md): a host end that writes
 * commands and records every line the simulated adapter answers.
 */

function hostOf(options: VmcSimulatorOptions = {}) {
  // The periodic r,ACK stream slowed down to keep answers readable; the tests that need it set their own interval.
  const vmc = new VmcSimulator({ pollAckIntervalMs: 60_000, ...options });
  const [host, device]: [Duplex, Duplex] = duplexPair();
  vmc.attach(device);
  const framer = new LineFramer();
  const lines: string[] = [];
  host.on("data", (chunk: Buffer) => lines.push(...framer.push(chunk)));
  return {
    vmc,
    lines,
    /** Writes a command and returns the lines answered to it (r,ACK included). */
    async send(command: string): Promise<string[]> {
      const before = lines.length;
      host.write(`${command}\n`);
      await vi.advanceTimersByTimeAsync(1);
      return lines.slice(before);
    },
  };
}

async function setUp(host: ReturnType<typeof hostOf>, addressKey = "mdb-address") {
  await host.send("C,0");
  await host.send(`C,SETCONF,${addressKey}=0x10`);
  return host.send("C,1");
}

describe("VMC simulator: faithful to real adapters (issue 19)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("current firmware answers C,1 in the logged order: INACTIVE, c,1, r,ACK, DISABLED, r,ACK, then ENABLED", async () => {
    const host = hostOf({ vmcEnableDelayMs: 300 });
    // A fresh power-up: the slave is already off.
    expect(await host.send("C,0")).toEqual(['c,ERR,"cashless is off"']);
    expect(await host.send("C,SETCONF,mdb-address=0x10")).toEqual(["c,SET,OK"]);
    expect(await host.send("C,1")).toEqual(["c,STATUS,INACTIVE", "c,1", "r,ACK", "c,STATUS,DISABLED", "r,ACK"]);
    expect(host.vmc.state).toBe("DISABLED");
    await vi.advanceTimersByTimeAsync(300);
    expect(host.lines.at(-1)).toBe("c,STATUS,ENABLED");
    expect(host.vmc.state).toBe("ENABLED");
    // Once on, C,0 is answered c,0 (as logged), and the next one is 'cashless is off' again.
    expect(await host.send("C,0")).toEqual(["c,0"]);
    expect(await host.send("C,0")).toEqual(['c,ERR,"cashless is off"']);
  });

  it("prints an r,ACK stream while the slave is on the bus, and none after C,0", async () => {
    const host = hostOf({ pollAckIntervalMs: 200 });
    await setUp(host);
    const acks = () => host.lines.filter((line) => line === "r,ACK").length;
    const before = acks();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(acks()).toBe(before + 5);
    await host.send("C,0");
    const afterOff = acks();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(acks()).toBe(afterOff);
  });

  it("older firmware: C,0 -> c,STATUS,OFFLINE, mdb-addr accepted and mdb-address refused, C,1 -> c,STATUS,ONLINE", async () => {
    const host = hostOf({ firmware: "legacy" });
    expect(await host.send("C,0")).toEqual(["c,STATUS,OFFLINE"]);
    expect(await host.send("C,SETCONF,mdb-address=0x10")).toEqual(['c,ERR,"SETCONF -1"']);
    expect(await host.send("C,SETCONF,mdb-addr=0x10")).toEqual(["c,SET,OK"]);
    expect(await host.send("C,SETCONF,mdb-currency-code=0x1840")).toEqual(["c,SET,OK"]);
    const answer = await host.send("C,1");
    expect(answer[0]).toBe("c,STATUS,ONLINE");
    expect(answer).toContain("c,STATUS,ENABLED");
    expect(host.vmc.config.get("mdb-addr")).toBe("0x10");
  });

  it("current firmware refuses mdb-addr; settings only while the slave is off; C,1 twice is 'cashless is on'", async () => {
    const host = hostOf();
    await host.send("C,0");
    expect(await host.send("C,SETCONF,mdb-addr=0x10")).toEqual(['c,ERR,"SETCONF -1"']);
    await host.send("C,1");
    expect(await host.send("C,SETCONF,mdb-address=0x10")).toEqual(['c,ERR,"cashless is on"']);
    expect(await host.send("C,1")).toEqual(['c,ERR,"cashless is on"']);
  });

  it("error strings: START -3 before the VMC enables the reader, VEND -3 for an approval or deny with no request", async () => {
    const host = hostOf({ vmcEnableDelayMs: 1_000 });
    await setUp(host);
    expect(await host.send("C,START,5.00")).toEqual(['c,ERR,"START -3"']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await host.send("C,START,5.00")).toEqual(["c,STATUS,IDLE,5.00"]);
    expect(await host.send("C,VEND,1.50")).toEqual(['c,ERR,"VEND -3"']);
    expect(await host.send("C,VEND,-1")).toEqual(['c,ERR,"VEND -3"']);
    expect(host.vmc.errors).toEqual(["cashless is off", "START -3", "VEND -3", "VEND -3"]);
  });

  it("C,VEND,-1 denies an active vend request: the VMC gets its answer and the session stays idle", async () => {
    const host = hostOf();
    await setUp(host);
    await host.send("C,START,5.00");
    const denied = vi.fn();
    host.vmc.on("denied", denied);
    host.vmc.customerSelects(11, "1.50");
    expect(await host.send("C,VEND,-1")).toEqual(["c,STATUS,IDLE"]);
    expect(denied).toHaveBeenCalledTimes(1);
    expect(host.vmc.state).toBe("IDLE");
  });

  it("reboots with the port open: settings forgotten, slave off, a vend in flight never reported, silence", async () => {
    const host = hostOf({ pollAckIntervalMs: 200, vendDurationMs: 500 });
    await setUp(host);
    await host.send("C,START,5.00");
    host.vmc.customerSelects(11, "1.50");
    await host.send("C,VEND,1.50");
    host.vmc.reboot();
    const after = host.lines.length;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(host.lines.slice(after)).toEqual([]);
    expect(host.vmc.config.size).toBe(0);
    expect(host.vmc.slaveOn).toBe(false);
    expect(host.vmc.state).toBe("INACTIVE");
    // The same open port still talks: the version answers, and setup works again.
    expect(await host.send("V")).toEqual(["v,sim-1.0,SIMULATOR"]);
    expect(await setUp(host)).toContain("c,STATUS,ENABLED");
  });
});

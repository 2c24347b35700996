import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { capturedLogs } from "../helpers/captured-logs.ts";
import { mdbRig, settle } from "./rigs.ts";

/**
 * What the operator reads in the MDB driver's log (journalctl) when a vend goes wrong: why a request was denied or
 * dropped, what the adapter said, why the adapter is set up again (issue 16: these lines are part of the driver's
 * behaviour, and mutants that blank them must fail a test). Simulated VMC, fake clock, a real pino logger.
 */

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

type Line = Record<string, unknown>;

async function loggedRig(options: Parameters<typeof mdbRig>[0] = {}, level: "debug" | "trace" = "debug") {
  const { logger, lines } = capturedLogs(level);
  const rig = mdbRig({ ...options, logger });
  rig.mechanism.start().catch(() => {});
  await settle(100);
  /** The lines with this message (`msg`). */
  const logged = (msg: string): Line[] => lines.filter((line) => line.msg === msg);
  return { ...rig, lines, logged };
}

describe("MDB driver: the operator log", () => {
  it("setup: the dialect, the settings a firmware skips, each retry and the reopen are logged", async () => {
    const legacy = await loggedRig({ vmc: { firmware: "legacy" } });
    expect(legacy.logged("MDB adapter set up")).toEqual([
      expect.objectContaining({ module: "mdb", address: 16, scaleFactor: 1, dialect: "older" }),
    ]);
    expect(legacy.logged("the adapter firmware does not take this setting; its default stays")[0]).toMatchObject({
      refusals: ["mdb-always-idle=0: SETCONF -1"],
    });
    await legacy.mechanism.stop();

    const current = await loggedRig();
    expect(current.logged("MDB adapter set up")).toEqual([expect.objectContaining({ dialect: "current" })]);
    await current.mechanism.stop();

    const silent = await loggedRig({ vmc: { replyDelayMs: Number.POSITIVE_INFINITY } });
    await settle(4_000);
    expect(silent.logged("no answer to a setup step; sending it again").slice(0, 2)).toEqual([
      expect.objectContaining({ step: "C,0", attempt: 1 }),
      expect.objectContaining({ step: "C,0", attempt: 2 }),
    ]);
    expect(silent.logged("device setup after open failed; reopening")[0]).toMatchObject({
      err: { message: "no answer from the MDB adapter to C,0" },
    });
    await silent.mechanism.stop();
  });

  it("a refused required setting names the key, the value and the adapter's answer", async () => {
    const rig = await loggedRig({ vmc: { acceptedKeys: ["mdb-address"] } });
    expect(rig.logged("device setup after open failed; reopening")[0]).toMatchObject({
      err: { message: "the adapter refused mdb-currency-code=0x1978: SETCONF -1" },
    });
    await rig.mechanism.stop();
  });

  it("why each VEND REQUEST was denied", async () => {
    const { logger, lines } = capturedLogs();
    const rig = mdbRig({ vmc: { replyDelayMs: 50 }, logger });
    rig.mechanism.start().catch(() => {});
    await settle(60);
    rig.vmc.inject("c,STATUS,VEND,1.50,11\n");
    await settle(1_000);
    rig.vmc.inject("c,STATUS,VEND,1.50,11\n");
    await settle(200);
    await Promise.all([rig.mechanism.openSession(1_000), settle(100)]);
    rig.vmc.inject("c,STATUS,VEND,1.505,11\nc,STATUS,VEND,1.00,99\n");
    await settle(200);
    const denied = lines.filter((line) => String(line.msg).startsWith("vend request denied: "));
    expect(denied.map((line) => [line.msg, line.item, line.priceText])).toEqual([
      ["vend request denied: the reader is not set up", 11, "1.50"],
      ["vend request denied: no session is open", 11, "1.50"],
      ["vend request denied: price 1.505 not understood", 11, "1.505"],
      ["vend request denied: MDB item 99 is not in the catalog", 99, "1.00"],
    ]);
    await rig.mechanism.stop();
  });

  it("each deny and dropped request names its selection and reason; a stale decision names both request ids", async () => {
    const rig = await loggedRig({ settings: { approvalTimeoutMs: 2_000 } });
    const denials = () => rig.logged("vend denied").map((line) => [line.selection, line.reason]);
    await Promise.all([rig.mechanism.openSession(1_000), settle(1)]);
    rig.mechanism.requestSelection("A2");
    expect(rig.logged("selection from outside the VMC ignored: on MDB machines the VMC asks")).toEqual([
      expect.objectContaining({ selection: "A2" }),
    ]);
    rig.vmc.customerSelects(11, "1.50");
    await settle(2_001);
    expect(rig.logged("no approval in time; denying so the VMC is answered")).toEqual([
      expect.objectContaining({ selection: "A1" }),
    ]);
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    expect(await rig.mechanism.vend("A1", 150, 1)).toMatchObject({
      detail: "the decision was for vend request 1, the pending one is 2",
    });
    expect(rig.logged("decision for a stale request")).toEqual([
      expect.objectContaining({ selection: "A1", requestId: 1, pendingRequestId: 2 }),
    ]);
    await rig.mechanism.vend("A1", 151, 2);
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    await rig.mechanism.vend("A1", 160, 3);
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    await rig.mechanism.deny("A1", "over budget", 4);
    rig.vmc.customerSelects(11, "1.50");
    await settle(1);
    await Promise.all([rig.mechanism.closeSession(), settle(10)]);
    expect(denials()).toEqual([
      ["A1", "price differs from the decided one"],
      ["A1", "price differs from the decided one"],
      ["A1", "over budget"],
      ["A1", "session closed by the agent"],
    ]);
    expect(rig.logged("pending vend request dropped")).toContainEqual(
      expect.objectContaining({ selection: "A1", reason: "replaced by a new vend request" }),
    );
    await rig.mechanism.stop();
  });

  it("a price MDB cannot carry, a held request at stop, a session for a held request and a finished vend", async () => {
    const rig = await loggedRig({ settings: { scaleFactor: 5, alwaysIdle: true, vendTimeoutS: 30 } });
    rig.vmc.customerSelects(12, "2.00");
    await settle(1);
    await rig.mechanism.vend("A2", 201, 1);
    rig.vmc.customerSelects(12, "2.00");
    await settle(1);
    await rig.mechanism.openSession(200, 2);
    expect(rig.logged("session for the selection the VMC holds")).toEqual([
      expect.objectContaining({ selection: "A2", budgetMinor: 200 }),
    ]);
    const outcome = rig.mechanism.vend("A2", 200, 2);
    await settle(1);
    await outcome;
    expect(rig.logged("vend finished")).toEqual([
      expect.objectContaining({ selection: "A2", outcome: "delivered", evidence: "vend-success" }),
    ]);
    rig.vmc.customerSelects(12, "2.00");
    await settle(1);
    await rig.mechanism.stop();
    expect(rig.logged("vend denied").map((line) => line.reason)).toEqual([
      "price not representable on MDB",
      "the reader is stopping",
    ]);
  });

  it("adapter lines: stray results and errors are logged; garbage too, cut to 80 characters", async () => {
    const rig = await loggedRig({ vmc: { pollAckIntervalMs: 0 } });
    rig.vmc.inject(`c,VEND,SUCCESS\nc,ERR,VEND 3\nc,ERR,"STOP -3"\n${"y".repeat(120)}\n`);
    await settle(1);
    expect(rig.logged("VEND SUCCESS with no approved vend in flight; ignored")).toHaveLength(1);
    expect(rig.logged("VEND failure with no approved vend in flight; ignored")).toEqual([
      expect.objectContaining({ code: 3 }),
    ]);
    expect(rig.logged("adapter error").at(-1)).toMatchObject({ text: "STOP -3" });
    expect(rig.logged("ignored a line that is not adapter protocol")).toEqual([
      expect.objectContaining({ line: `"${"y".repeat(79)}` }),
    ]);
    await rig.mechanism.stop();
  });

  it("a reboot: the reason the reader is off the bus, a failed setup on the open port, the port reopened", async () => {
    const rig = await loggedRig({ vmc: { pollAckIntervalMs: 200 }, settings: { pollSilenceMs: 1_000 } });
    rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY);
    rig.vmc.reboot();
    await settle(6_000);
    const reason = "no r,ACK for 1000 ms: the VMC no longer polls the reader";
    expect(rig.logged("the MDB reader is off the bus; setting the adapter up again")).toEqual([
      expect.objectContaining({ reason }),
    ]);
    expect(rig.logged("setting the adapter up again failed; reopening the port")).toEqual([
      expect.objectContaining({ err: expect.objectContaining({ message: "no answer from the MDB adapter to C,0" }) }),
    ]);
    expect(rig.logged("serial link lost")[0]).toMatchObject({ reason: `setup after '${reason}' failed` });
    await rig.mechanism.stop();
  });

  it("an unanswered session end and session start are logged and reported as such", async () => {
    const rig = await loggedRig({ vmc: { pollAckIntervalMs: 0 } });
    await Promise.all([rig.mechanism.openSession(500), settle(1)]);
    rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY);
    await Promise.all([rig.mechanism.closeSession(), settle(1_001)]);
    expect(rig.logged("no session end from the adapter; the VMC ends the session by its own timeout")).toEqual([
      expect.objectContaining({
        err: expect.objectContaining({ message: "no answer from the MDB adapter to session end" }),
      }),
    ]);
    await expect(Promise.all([rig.mechanism.openSession(500), settle(1_001)])).rejects.toThrow(
      "no answer from the MDB adapter to session start",
    );
    await rig.mechanism.stop();
  });

  it("at trace level every line to and from the adapter is logged as it went", async () => {
    const rig = await loggedRig({}, "trace");
    expect(rig.logged("to adapter")[0]).toMatchObject({ line: "C,0" });
    expect(rig.logged("from adapter")[0]).toMatchObject({ line: 'c,ERR,"cashless is off"' });
    await rig.mechanism.stop();
  });

  it("writes the port refuses are logged: the heartbeat, a deny, a display text", async () => {
    const { logger, lines } = capturedLogs();
    const failing = { on: false };
    const rig: ReturnType<typeof mdbRig> = mdbRig({
      vmc: { pollAckIntervalMs: 0 },
      settings: { heartbeatMs: 1_000, alwaysIdle: true, vendTimeoutS: 30 },
      logger,
      connect: async () => {
        const host = await rig.port.connector();
        const write = host._write.bind(host);
        host._write = (chunk, encoding, done) =>
          failing.on ? done(new Error("EIO: i/o error")) : write(chunk, encoding, done);
        return host;
      },
    });
    const logged = (msg: string) => lines.filter((line) => line.msg === msg);
    const failingOnce = async (action: () => Promise<void> | void) => {
      failing.on = true;
      await action();
      failing.on = false;
      await settle(1_000); // the port is reopened and set up again
      expect(rig.mechanism.isUp()).toBe(true);
    };
    rig.mechanism.start().catch(() => {});
    await settle(100);
    await failingOnce(() => settle(1_000));
    expect(logged("heartbeat not sent")).toEqual([expect.objectContaining({ err: expect.anything() })]);
    rig.vmc.customerSelects(12, "2.00");
    await settle(1);
    await failingOnce(() => rig.mechanism.deny("A2", "over budget"));
    expect(logged("deny not sent")).toEqual([expect.objectContaining({ err: expect.anything() })]);
    await failingOnce(() => rig.mechanism.showText("Scan to pay"));
    expect(logged("display text not sent")).toEqual([expect.objectContaining({ err: expect.anything() })]);
    await rig.mechanism.stop();
  });

  it("each setup step names itself when unanswered or refused", async () => {
    const failures: unknown[] = [];
    for (const [command, answer] of [
      ["C,SETCONF,mdb-address=0x10", undefined],
      ["C,1", undefined],
      ["C,0", 'c,ERR,"BUSY"\n'],
      ["C,1", 'c,ERR,"BUSY"\n'],
    ] as const) {
      const { logger, lines } = capturedLogs();
      const rig = mdbRig({ vmc: { pollAckIntervalMs: 0 }, logger });
      let first = true;
      rig.vmc.on("line", (line) => {
        if (line !== command || !first) return;
        first = false;
        if (answer) rig.vmc.inject(answer);
        else rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY);
      });
      rig.mechanism.start().catch(() => {});
      await settle(4_000); // three unanswered attempts end at 3 750 ms
      failures.push(lines.find((line) => line.msg === "device setup after open failed; reopening")?.err);
      await rig.mechanism.stop();
    }
    expect(failures).toEqual([
      expect.objectContaining({ message: "no answer from the MDB adapter to SETCONF mdb-address" }),
      expect.objectContaining({ message: "no answer from the MDB adapter to C,1" }),
      expect.objectContaining({ message: "the adapter refused C,0: BUSY" }),
      expect.objectContaining({ message: "the adapter refused C,1: BUSY" }),
    ]);
  });

  it("why the reader is taken as off the bus: OFFLINE, 'cashless is off', a START without an answer", async () => {
    const rig = await loggedRig({ vmc: { pollAckIntervalMs: 0 } });
    rig.vmc.inject("c,STATUS,OFFLINE\n");
    await settle(1_000);
    rig.vmc.inject('c,ERR,"cashless is off"\n');
    await settle(1_000);
    rig.vmc.setReplyDelay(Number.POSITIVE_INFINITY);
    await expect(Promise.all([rig.mechanism.openSession(500), settle(1_001)])).rejects.toThrow(/no answer/);
    expect(
      rig.logged("the MDB reader is off the bus; setting the adapter up again").map((line) => line.reason),
    ).toEqual([
      "the adapter says its cashless slave is OFFLINE",
      "the adapter says cashless is off",
      "no session start: Error: no answer from the MDB adapter to session start",
    ]);
    await rig.mechanism.stop();
  });
});

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BridgeProcess, freePort } from "../bridge/helpers/bridge-process.ts";
import { tempDir } from "../config/fixtures.ts";
import { type NotifyStandIn, openNotifyStandIn } from "./notify-stand-in.ts";

/**
 * The real `vend-bridge run` under a notify-socket stand-in, as systemd runs it with Type=notify: READY=1 only once
 * it serves, watchdog pings while it is healthy, STOPPING=1 on SIGTERM, then a clean exit after draining.
 */
describe("vend-bridge under systemd's notify protocol", () => {
  let standIn: NotifyStandIn | undefined;
  let bridge: BridgeProcess | undefined;

  afterEach(async () => {
    await bridge?.kill();
    standIn?.close();
  });

  it("sends READY once serving, pings the watchdog, and STOPPING before a clean exit on SIGTERM", async () => {
    standIn = openNotifyStandIn();
    const dir = tempDir();
    const httpPort = await freePort();
    const config = {
      http: { host: "127.0.0.1", port: httpPort, plainHttp: true, publicBaseUrl: `http://127.0.0.1:${httpPort}/seqr` },
      seqr: { endpointUrl: "http://127.0.0.1:9/soap", terminalId: "T1", password: "terminal-pw" },
      broker: { mode: "embedded", tcp: { enabled: true, host: "127.0.0.1", port: 0 }, tls: { enabled: false } },
      callerAuth: { mode: "none" },
      bridgeMqtt: { password: "bridge-mqtt-password" },
      store: { url: `sqlite:${join(dir, "bridge.db")}` },
    };
    const file = join(dir, "bridge.json");
    writeFileSync(file, JSON.stringify(config));
    const startedAt = Date.now();
    // Start-up under load (another full test run beside this one) can take tens of seconds.
    bridge = await BridgeProcess.start(file, httpPort, undefined, 60_000, {
      NOTIFY_SOCKET: standIn.path,
      WATCHDOG_USEC: "1000000",
    });
    const ready = await standIn.waitFor("READY", "1");
    expect(ready.at).toBeGreaterThanOrEqual(startedAt);
    expect(ready.fields.STATUS).toBe("serving");
    // Waits for the pings themselves: a loaded machine may delay them, a count after a fixed sleep would be luck.
    await standIn.waitForCount("WATCHDOG", 2, ready.at);

    await bridge.stop(10_000);
    await standIn.waitFor("STOPPING", "1");
    expect(bridge.exitStatus).toEqual({ code: 0, signal: null });
  }, 120_000);
});

import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { type SeqrSandbox, startSeqrSandbox } from "../../backend-bridge/sandbox/seqr-sandbox.ts";
import { readPhysicalLedger } from "../../hardware/simulators/physical-ledger.ts";
import { BridgeProcess, freePort } from "../bridge/helpers/bridge-process.ts";
import { AgentProcess, pollUntil } from "../chaos/processes.ts";

/**
 * Selection first end to end (issue 19), with real processes: the SEQR sandbox (UPS caller and customer app), the real
 * bridge (`vend-bridge run`, embedded broker, SQLite) and the real agent (`vend-agent run`) on the simulated MDB
 * machine set to always idle, whose keypad is the kiosk screen. The customer presses Cola before paying; the bridge
 * reserves exactly its price; the unlock vends it. And a VMC that gives up before the unlock: nothing drops, nothing
 * is taken from the customer.
 */

const catalog = {
  currency: "EUR",
  products: {
    A1: { name: "Still water", sku: "WATER-05", priceMinor: 150, mdbItem: 11 },
    A2: { name: "Cola", sku: "COLA-033", priceMinor: 200, mdbItem: 12 },
  },
};
const terminal = { id: "public_test_shop_terminal", password: "12345678" };
const customer = { msisdn: "46700000042", pin: "1234" };
/** The simulated adapter's vend timeout: the driver holds a selection-first request this long (less 1 s). */
const vendTimeoutS = 60;
/** The simulated VMC's own patience with such a request: shorter, as a real VMC's may be (docs/mdb-adapters.md). */
const vmcPatienceS = 15;

interface Screen {
  name: string;
  title: string;
  countdown?: { deadline: number };
}

describe("selection first on the simulated MDB machine, real processes", () => {
  let dir: string;
  let sandbox: SeqrSandbox;
  let bridge: BridgeProcess | undefined;
  let agent: AgentProcess | undefined;
  let ledgerFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vend-selection-first-"));
    const httpPort = await freePort();
    const brokerPort = await freePort();
    const kioskPort = await freePort();
    sandbox = await startSeqrSandbox({
      port: 0,
      ups: { createPurchaseUrl: `http://127.0.0.1:${httpPort}/seqr/createPurchase`, timeoutMs: 10_000 },
    });
    const machine = { mqttPassword: randomBytes(12).toString("hex"), commandKey: randomBytes(32).toString("hex") };
    const bridgeConfig = join(dir, "bridge.yaml");
    writeFileSync(
      bridgeConfig,
      YAML.stringify({
        http: {
          host: "127.0.0.1",
          port: httpPort,
          plainHttp: true,
          publicBaseUrl: `http://127.0.0.1:${httpPort}/seqr`,
        },
        callerAuth: { mode: "none" },
        seqr: { endpointUrl: sandbox.soapUrl, terminalId: terminal.id, password: terminal.password },
        broker: {
          mode: "embedded",
          tcp: { enabled: true, host: "127.0.0.1", port: brokerPort },
          tls: { enabled: false },
        },
        store: { url: `sqlite:${join(dir, "bridge.db")}` },
        machines: { SF1: { ...machine, catalog } },
        log: { level: "info" },
      }),
    );
    mkdirSync(join(dir, "SF1"));
    ledgerFile = join(dir, "SF1", "physical-ledger.jsonl");
    const agentConfig = join(dir, "SF1", "agent.yaml");
    writeFileSync(
      agentConfig,
      YAML.stringify({
        machine: { id: "SF1", merchantId: "public_test_shop" },
        mqtt: { url: `mqtt://127.0.0.1:${brokerPort}`, password: machine.mqttPassword, reconnectMinMs: 200 },
        commandKey: machine.commandKey,
        hardware: {
          driver: "simulator",
          simulate: "mdb",
          alwaysIdle: true,
          vendTimeoutS,
          vmcPatienceS,
          vendDurationMs: 300,
          ledgerFile,
        },
        catalog,
        session: { mode: "multi-vend", selectionTimeoutMs: 3_000 },
        display: { renderer: "kiosk", kioskHost: "127.0.0.1", kioskPort },
        dataDir: join(dir, "SF1", "data"),
        log: { level: "info" },
      }),
    );
    const bridgeStarted = BridgeProcess.start(bridgeConfig, httpPort, (health) => health.machinesOnline === 1, 120_000);
    agent = await AgentProcess.start(agentConfig, kioskPort, 120_000);
    bridge = await bridgeStarted;
  }, 150_000);

  afterAll(async () => {
    await agent?.stop();
    await bridge?.stop();
    await sandbox?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  async function screen(): Promise<Screen> {
    const response = await fetch(`${agent?.kioskUrl}/screen`);
    return ((await response.json()) as { screen: Screen }).screen;
  }

  async function screenIs(name: string, timeoutMs = 30_000): Promise<Screen> {
    let seen: Screen | undefined;
    await pollUntil(
      `the machine's screen shows ${name}`,
      async () => {
        seen = await screen();
        return seen.name === name;
      },
      timeoutMs,
      () => `last screen: ${JSON.stringify(seen)}\n${agent?.output()}\n${bridge?.output()}`,
    );
    return seen as Screen;
  }

  /**
   * The customer scans once the bridge has heard of the held selection (its log says so): a person takes seconds to get
   * the phone out, but a test must not bet on the broker being faster than that on a loaded machine.
   */
  async function scanHeld(selection: string): Promise<string> {
    await pollUntil(
      `the bridge hears that ${selection} is held`,
      () =>
        (bridge?.output() ?? "")
          .split("\n")
          .some((line) => line.includes("machine holds a selection for payment") && line.includes(`"${selection}"`)),
      30_000,
      () => `${bridge?.output()}`,
    );
    return scan();
  }

  async function scan(): Promise<string> {
    const outcome = await sandbox.ups.scan({
      qr: "HTTP://SEQR.SE/000/ups?w=public_test_shop&t=SF1",
      msisdn: customer.msisdn,
      // The customer's app offers 20.00: the bridge reserves only the chosen product's price.
      amount: { minor: 2_000, currency: "EUR" },
    });
    if (outcome.kind !== "invoice") throw new Error(`scan answered ${JSON.stringify(outcome)}`);
    return outcome.invoiceReferenceId;
  }

  function invoice(reference: string) {
    const found = sandbox.ledger.list().find((each) => each.invoiceReference === reference);
    if (!found) throw new Error(`no invoice ${reference} in the sandbox`);
    return found;
  }

  it("press Cola, pay exactly 2.00 EUR for it, and it drops", async () => {
    await screenIs("idle");
    expect(await agent?.touch({ select: "A2" })).toBe(true);
    const pay = await screenIs("pay-for-selection");
    expect(pay.title).toBe("Pay 2.00 EUR for Cola");
    const reference = await scanHeld("A2");
    expect(invoice(reference).total).toEqual({ minor: 200, currency: "EUR" });
    expect(invoice(reference).rows.map((row) => row.description)).toEqual(["Cola"]);
    sandbox.app.confirm(reference, customer);
    await pollUntil(
      "the invoice is paid",
      () => invoice(reference).status === "PAID",
      30_000,
      () => [agent?.output(), bridge?.output()].join("\n"),
    );
    expect(invoice(reference).paid).toEqual({ minor: 200, currency: "EUR" });
    expect(readPhysicalLedger(ledgerFile).map((drop) => drop.selection)).toEqual(["A2"]);
    await screenIs("idle");
  }, 90_000);

  it("the VMC gives up before the unlock arrives: nothing drops and the customer is not charged", async () => {
    const dropsBefore = readPhysicalLedger(ledgerFile).length;
    const expiredBefore = (agent?.output() ?? "").split("\n").filter((line) => line.includes("VMC gave up")).length;
    expect(await agent?.touch({ select: "A1" })).toBe(true);
    await screenIs("pay-for-selection");
    const reference = await scanHeld("A1");
    expect(invoice(reference).total).toEqual({ minor: 150, currency: "EUR" });
    // The customer is slow: the VMC stops waiting (silently, as the adapter reports nothing) before the confirmation,
    // while the agent's own hold (the adapter's 60 s) still runs.
    await pollUntil(
      "the simulated VMC gives up",
      () => (agent?.output() ?? "").split("\n").filter((line) => line.includes("VMC gave up")).length > expiredBefore,
      60_000,
      () => `${agent?.output()}`,
    );
    sandbox.app.confirm(reference, customer);
    // The unlock's approval is refused (VEND -3); the session offers credit so the customer could press again; nobody
    // does, it times out with nothing vended, and the reservation is cancelled.
    await pollUntil(
      "the reservation is released",
      () => invoice(reference).status === "CANCELED",
      60_000,
      () => `${JSON.stringify(invoice(reference).history)}\n${agent?.output()}\n${bridge?.output()}`,
    );
    expect(invoice(reference).paid).toBeUndefined();
    expect(readPhysicalLedger(ledgerFile)).toHaveLength(dropsBefore);
    expect(agent?.output()).toContain("VEND -3");
    await screenIs("idle");
  }, 120_000);
});

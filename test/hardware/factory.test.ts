import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SerialPortMock } from "serialport";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { agentConfigSchema } from "../../config/schema/agent.ts";
import { GpioMechanism } from "../../hardware/gpio/gpio-mechanism.ts";
import { createVendMechanism, type HardwareConfig } from "../../hardware/index.ts";
import { MdbCashlessMechanism } from "../../hardware/mdb/mdb-cashless-mechanism.ts";
import type { SerialBinding } from "../../hardware/serial/serial-types.ts";
import { readPhysicalLedger } from "../../hardware/simulators/physical-ledger.ts";
import type { SimulatedMechanism } from "../../hardware/simulators/simulated-mechanism.ts";
import { SpiralBoardMechanism } from "../../hardware/spiral/spiral-board-mechanism.ts";
import type { VendOutcome } from "../../hardware/vend-mechanism.ts";
import { silentLogger } from "../../platform/logger.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import { mdbCatalog, record, spiralCatalog } from "./rigs.ts";

// @serialport/binding-mock, reached through serialport's re-export: the package's own types are `require`-only.
const MockBinding = SerialPortMock.binding;

function hardware(raw: Record<string, unknown>): HardwareConfig {
  const config = agentConfigSchema.parse({
    machine: { id: "M1", merchantId: "acme" },
    commandKey: "00".repeat(32),
    hardware: raw,
    catalog: mdbCatalog,
  });
  return config.hardware;
}

const demoCatalog: Catalog = {
  currency: "EUR",
  products: {
    A1: { name: "Water", sku: "WATER", priceMinor: 150 },
    B2: { name: "Chips", sku: "CHIPS", priceMinor: 220, mdbItem: 1 },
  },
};

describe("createVendMechanism", () => {
  beforeEach(() => MockBinding.reset());

  it("picks the driver from hardware.driver with the schema's defaults", () => {
    const deps = { logger: silentLogger(), serialBinding: MockBinding as unknown as SerialBinding };
    const mdb = hardware({ driver: "mdb", serial: { path: "/dev/ttyACM0" } });
    expect(mdb).toMatchObject({ approvalTimeoutMs: 3_000, scaleFactor: 1 });
    expect(createVendMechanism(mdb, mdbCatalog, deps)).toBeInstanceOf(MdbCashlessMechanism);
    const spiral = hardware({ driver: "spiral-board", serial: { path: "/dev/ttyUSB0" } });
    expect(createVendMechanism(spiral, spiralCatalog, deps)).toBeInstanceOf(SpiralBoardMechanism);
    const gpio = hardware({ driver: "gpio", motors: { layout: "per-slot", pins: { A1: 17 } } });
    expect(gpio).toMatchObject({ leaveHomeMs: 1_000, dropWindowMs: 2_000 });
    expect(createVendMechanism(gpio, mdbCatalog, deps)).toBeInstanceOf(GpioMechanism);
    expect(createVendMechanism(hardware({ driver: "simulator" }), mdbCatalog, deps).driver).toBe("simulator");
  });

  it("refuses a spiral-board catalog whose selections are not board numbers", () => {
    const spiral = hardware({ driver: "spiral-board", serial: { path: "/dev/ttyUSB0" } });
    expect(() => createVendMechanism(spiral, mdbCatalog, { logger: silentLogger() })).toThrow(
      /not a spiral-board selection number/,
    );
  });

  it("gpio driver: a missing sysfs GPIO makes start() fail with the explanation, not a crash", async () => {
    const gpio = hardware({ driver: "gpio", motors: { layout: "per-slot", pins: { A1: 17 } } });
    const mechanism = createVendMechanism(gpio, mdbCatalog, {
      logger: silentLogger(),
      gpioSysfsRoot: "/nonexistent/gpio",
    });
    await expect(mechanism.start()).rejects.toThrow(/no sysfs GPIO interface/);
  });

  it("mdb driver over MockBinding: an absent device is retried and reported as a fault, not thrown", async () => {
    // The serial connector loads @serialport/stream on its first open (an idle agent without a port never holds it);
    // fake time does not advance that file I/O, so it is loaded before the clock is faked.
    await import("@serialport/stream");
    vi.useFakeTimers();
    try {
      const mdb = hardware({ driver: "mdb", serial: { path: "/dev/serial/by-id/usb-absent-if00" } });
      const mechanism = createVendMechanism(mdb, mdbCatalog, {
        logger: silentLogger(),
        serialBinding: MockBinding as unknown as SerialBinding,
      });
      const seen = record(mechanism);
      const started = mechanism.start();
      started.catch(() => {});
      await vi.advanceTimersByTimeAsync(2_000);
      expect(seen.faults[0]).toBe("serial-missing");
      expect(mechanism.isUp()).toBe(false);
      await mechanism.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("driver: simulator (the real driver wired to its simulator)", () => {
  afterEach(() => vi.useRealTimers());

  async function vendThroughKiosk(
    simulate: "mdb" | "spiral-board" | "gpio",
    catalog: Catalog,
    selection: string,
    options: { ledgerFile?: string; script?: (mechanism: SimulatedMechanism) => void } = {},
  ) {
    vi.useFakeTimers();
    const ledger = options.ledgerFile !== undefined ? { ledgerFile: options.ledgerFile } : {};
    const mechanism = createVendMechanism(
      hardware({ driver: "simulator", simulate, vendDurationMs: 500, ...ledger }),
      catalog,
      { logger: silentLogger() },
    ) as SimulatedMechanism;
    options.script?.(mechanism);
    const outcomes: VendOutcome[] = [];
    // An agent-like handler: approve what was selected at the catalog price.
    mechanism.on("selection", (request) => {
      const price = catalog.products[request.selection]?.priceMinor ?? 0;
      void mechanism.vend(request.selection, price).then((outcome) => outcomes.push(outcome));
    });
    const started = mechanism.start();
    await vi.advanceTimersByTimeAsync(500);
    await started;
    expect(mechanism.isUp()).toBe(true);
    await mechanism.openSession(1_000);
    mechanism.requestSelection(selection);
    await vi.advanceTimersByTimeAsync(4_000);
    await mechanism.stop();
    return { outcomes, mechanism };
  }

  it("mdb: kiosk selection -> simulated customer -> VEND REQUEST -> approval -> VEND SUCCESS", async () => {
    const { outcomes, mechanism } = await vendThroughKiosk("mdb", demoCatalog, "A1");
    expect(outcomes).toEqual([{ outcome: "delivered", evidence: "vend-success" }]);
    expect(mechanism.machine.vmc?.approvals).toEqual(["1.50"]);
    // A1 had no mdbItem: it got a free number that does not collide with B2's 1.
    expect(mechanism.machine.mdbItems.get("A1")).toBe(2);
  });

  it("spiral-board: any catalog keys, delivered by the drop sensor", async () => {
    const { outcomes, mechanism } = await vendThroughKiosk("spiral-board", demoCatalog, "B2");
    expect(outcomes).toEqual([{ outcome: "delivered", evidence: "drop-sensor" }]);
    expect(mechanism.machine.board?.executed.map((drive) => drive.selection)).toEqual([2]);
  });

  it("gpio: motor, home switch and beam on fake GPIO", async () => {
    const { outcomes, mechanism } = await vendThroughKiosk("gpio", demoCatalog, "A1");
    expect(outcomes).toEqual([{ outcome: "delivered", evidence: "drop-sensor" }]);
    expect(mechanism.machine.mechanics?.turns).toEqual(["A1"]);
  });

  describe("the physical ledger: a line per product that really dropped, none for one that did not", () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "vend-ledger-"));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const failures = {
      mdb: (mechanism: SimulatedMechanism) => mechanism.machine.vmc?.nextResults.push("failure"),
      "spiral-board": (mechanism: SimulatedMechanism) => mechanism.machine.board?.nextDispense.set(2, ["missed-drop"]),
      gpio: (mechanism: SimulatedMechanism) => mechanism.machine.mechanics?.script("B2", "missed-drop"),
    } as const;

    for (const simulate of ["mdb", "spiral-board", "gpio"] as const) {
      it(`${simulate}: a delivered vend is in the ledger`, async () => {
        const ledgerFile = join(dir, "ledger.jsonl");
        const { outcomes } = await vendThroughKiosk(simulate, demoCatalog, "B2", { ledgerFile });
        expect(outcomes.map((outcome) => outcome.outcome)).toEqual(["delivered"]);
        expect(readPhysicalLedger(ledgerFile).map((drop) => drop.selection)).toEqual(["B2"]);
      });

      it(`${simulate}: a vend that did not drop is not`, async () => {
        const ledgerFile = join(dir, "ledger.jsonl");
        const { outcomes } = await vendThroughKiosk(simulate, demoCatalog, "B2", {
          ledgerFile,
          script: failures[simulate],
        });
        expect(outcomes.map((outcome) => outcome.outcome)).not.toContain("delivered");
        expect(outcomes).toHaveLength(1);
        expect(readPhysicalLedger(ledgerFile)).toEqual([]);
      });
    }
  });
});

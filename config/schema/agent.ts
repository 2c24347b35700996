import { z } from "zod";
import { logLevels } from "../../platform/logger.ts";
import { catalog } from "../../protocol/catalog.ts";
import { field, tokenId, urlWithScheme } from "../field.ts";
import type { ProgramConfigSpec } from "../load.ts";

const serialPort = z.strictObject({
  path: field(
    z.string().min(1),
    "Serial device; prefer a stable /dev/serial/by-id/... path over /dev/ttyUSB0, which changes when USB re-enumerates",
  ),
  baudRate: field(z.number().int().positive().optional(), "Baud rate; the driver's usual rate when unset"),
});

const gpioPin = z.number().int().min(0).max(1023);

const minimumSelectionFirstVendTimeoutS = 20;

const mdbHardware = z
  .strictObject({
    driver: z.literal("mdb"),
    serial: field(serialPort, "The MDB adapter's serial port (Qibixx MDB-USB: /dev/ttyACM0 at 115200)"),
    address: field(
      z.union([z.literal(0x10), z.literal(0x60)]).default(0x10),
      "MDB cashless address: 16 (0x10, #1) or 96 (0x60, #2)",
    ),
    currencyCode: field(
      z.number().int().min(0).max(0xffff).default(0x1978),
      "MDB currency code (0x1978 = 6520 EUR, 0x1752 SEK)",
    ),
    scaleFactor: field(
      z.number().int().min(1).max(100).default(1),
      "MDB scale factor: raw value x scale factor = minor units",
    ),
    decimalPlaces: field(z.number().int().min(0).max(3).default(2), "MDB decimal places the VMC shows"),
    vendResultTimeoutMs: field(
      z.number().int().positive().default(60_000),
      "How long to wait for VEND SUCCESS/FAILURE after approving; past it the vend is 'unknown'",
    ),
    approvalTimeoutMs: field(
      z.number().int().min(100).max(30_000).default(3_000),
      "How long the agent may take to answer a VEND REQUEST; past it the reader denies by itself (never approves late)",
    ),
    level: field(
      z.union([z.literal(1), z.literal(2), z.literal(3)]).default(1),
      "MDB level the VMC talks; levels 1-2 carry 16-bit money, so larger budgets are offered capped (655.35 EUR)",
    ),
    thirtyTwoBitMoney: field(
      z.boolean().default(false),
      "Level 3 only: the VMC negotiated the 32-bit money option, so funds above 16 bits may be offered",
    ),
    alwaysIdle: field(
      z.boolean().default(false),
      "Adapter setting mdb-always-idle (selection first): the customer may press a product before paying; the screen then asks to pay exactly its price while the VMC waits (vendTimeoutS)",
    ),
    sessionIdleTimeoutS: field(
      z.number().int().min(1).max(600).default(60),
      "Adapter setting mdb-timeout-idle: seconds a session may stay idle",
    ),
    vendTimeoutS: field(
      z.number().int().min(1).max(600).optional(),
      "Adapter setting mdb-timeout-vend: seconds a vend request stays open; when unset 60 with alwaysIdle (the customer pays while the VMC waits), else 2 s more than approvalTimeoutMs",
    ),
    restoreFunds: field(
      z.boolean().default(true),
      "Adapter setting mdb-restore-funds: the funds of a failed vend go back to the session",
    ),
    pollSilenceMs: field(
      z.number().int().min(0).max(600_000).default(5_000),
      "After the adapter printed r,ACK, this long without one means it rebooted: set it up again (0: off)",
    ),
  })
  .check((ctx) => {
    const { alwaysIdle, vendTimeoutS } = ctx.value;
    // Selection first, the VMC waits while the customer scans and confirms in the app: a timeout shorter than that
    // would only ever hold selections nobody can pay for (docs/mdb-adapters.md).
    if (alwaysIdle && vendTimeoutS !== undefined && vendTimeoutS < minimumSelectionFirstVendTimeoutS) {
      ctx.issues.push({
        code: "custom",
        input: vendTimeoutS,
        path: ["vendTimeoutS"],
        message: `with alwaysIdle the customer pays by QR while the VMC waits: at least ${minimumSelectionFirstVendTimeoutS} s (60 when unset)`,
      });
    }
  });

const spiralBoardHardware = z.strictObject({
  driver: z.literal("spiral-board"),
  serial: field(serialPort, "The spiral board's RS-232 port (FA FB protocol, 57600 8N1)"),
  dropSensor: field(z.boolean().default(true), "Ask the board to confirm delivery with its drop sensor"),
  dispenseTimeoutMs: field(
    z.number().int().positive().default(30_000),
    "How long a dispense may take before it is 'unknown'",
  ),
});

const gpioHardware = z.strictObject({
  driver: z.literal("gpio"),
  chipLabel: field(
    z.string().default("pinctrl-bcm2711|pinctrl-bcm2835|pinctrl-rp1"),
    "gpiochip labels to look for, separated by |",
  ),
  chipBase: field(
    z.number().int().min(0).optional(),
    "Override of the sysfs base of the GPIO chip (512 on Pi 4 with kernel 6.6)",
  ),
  motors: field(
    z.discriminatedUnion("layout", [
      z.strictObject({ layout: z.literal("per-slot"), pins: z.record(z.string(), gpioPin) }),
      z.strictObject({
        layout: z.literal("matrix"),
        rows: z.array(gpioPin).min(1),
        columns: z.array(gpioPin).min(1),
        slots: z.record(z.string(), z.tuple([z.number().int().min(0), z.number().int().min(0)])),
      }),
    ]),
    "Motor relays: one pin per selection, or a row x column matrix with selection -> [row, column]",
  ),
  homeSwitchPin: field(gpioPin.optional(), "Spiral home micro-switch input (BCM number)"),
  dropSensorPin: field(gpioPin.optional(), "Drop-sensor beam input (BCM number); edges are watched, not levels"),
  doorLockPin: field(gpioPin.optional(), "Door lock solenoid output (BCM number)"),
  buttons: field(z.record(z.string(), gpioPin).default({}), "Selection buttons: selection -> input pin (BCM number)"),
  debounceMs: field(z.number().int().min(0).max(500).default(10), "Button debounce in milliseconds"),
  activeLow: field(z.boolean().default(false), "Relays and inputs are active low"),
  motorTimeoutMs: field(z.number().int().positive().default(4_000), "A spiral must return home within this time"),
  leaveHomeMs: field(
    z.number().int().positive().default(1_000),
    "A spiral must leave its home switch within this time after the motor starts, else it is stuck",
  ),
  dropWindowMs: field(
    z.number().int().min(0).default(2_000),
    "After the motor stops, how long a falling product may still take to cross the drop-sensor beam",
  ),
});

const simulatorHardware = z.strictObject({
  driver: z.literal("simulator"),
  simulate: field(z.enum(["mdb", "spiral-board", "gpio"]).default("mdb"), "Which mechanism the simulator behaves like"),
  vendDurationMs: field(z.number().int().min(0).default(1_500), "How long a simulated vend takes"),
  ledgerFile: field(
    z.string().min(1).optional(),
    "Test and demo aid: a file the simulator appends one line to (synced) for every product that physically drops",
  ),
  alwaysIdle: field(
    z.boolean().optional(),
    "simulate: mdb only: the simulated VMC sells selection first (MDB always idle); products on the idle screen are its keypad",
  ),
  vendTimeoutS: field(
    z.number().int().min(2).max(600).optional(),
    "simulate: mdb with alwaysIdle (60 when unset): seconds the simulated adapter holds a selection-first vend request open",
  ),
  vmcPatienceS: field(
    z.number().int().min(1).max(600).optional(),
    "simulate: mdb with alwaysIdle: the simulated VMC gives up on a selection-first request after this many seconds (unset: it waits for the reader)",
  ),
});

export const agentConfigSchema = z.strictObject({
  machine: field(
    z.strictObject({
      id: field(tokenId, "Machine id: the QR token `t` and the MQTT username (A-Z a-z 0-9 . _ -)"),
      merchantId: field(
        z.string().regex(/^[A-Za-z0-9._-]{1,32}$/),
        "SEQR merchantId `w` from the start-up kit (usually the resellerId)",
      ),
      name: field(z.string().max(60).optional(), "A human name for the technician screens"),
    }),
    "Who this machine is",
  ),
  mqtt: field(
    z
      .strictObject({
        url: field(urlWithScheme(["mqtt:", "mqtts:"]), "Broker URL, mqtt://host:1883 or mqtts://host:8883").default(
          "mqtt://127.0.0.1:1883",
        ),
        username: field(z.string().optional(), "MQTT username; the machine id when unset"),
        password: field(z.string().min(1).optional(), "MQTT password of this machine", { secret: true }),
        caFile: field(z.string().optional(), "PEM file of the CA that signed the broker's certificate"),
        certFile: field(
          z.string().optional(),
          "PEM client certificate, for brokers that authenticate machines by certificate",
        ),
        keyFile: field(z.string().optional(), "PEM private key of the client certificate"),
        rootTopic: field(
          z
            .string()
            .regex(/^[^#+]+[^/#+]$/)
            .default("vending/v1"),
          "Root of the MQTT contract's topics",
        ),
        keepaliveSeconds: field(z.number().int().min(5).max(600).default(30), "MQTT keepalive"),
        reconnectMinMs: field(
          z.number().int().positive().default(1_000),
          "First reconnect delay; the ceiling doubles per attempt, each delay drawn below it (full jitter)",
        ),
        reconnectMaxMs: field(
          z.number().int().positive().default(30_000),
          "Longest reconnect delay: after its broker is back, a fleet is back within this long (issue 17)",
        ),
      })
      .prefault({}),
    "Connection to the reseller's broker",
  ),
  commandKey: field(
    z.string().regex(/^[0-9a-fA-F]{64,128}$/, "must be 32 to 64 bytes written as hex"),
    "HMAC-SHA256 key that signs every command to this machine (hex); the bridge holds the same key",
    { secret: true },
  ),
  hardware: field(
    z.discriminatedUnion("driver", [mdbHardware, spiralBoardHardware, gpioHardware, simulatorHardware]),
    "The vend mechanism: mdb, spiral-board, gpio or simulator",
  ).default({ driver: "simulator", simulate: "mdb", vendDurationMs: 1_500 }),
  catalog: field(catalog, "What this machine sells"),
  session: field(
    z
      .strictObject({
        mode: field(
          z.enum(["single-vend", "multi-vend"]).default("single-vend"),
          "One product per payment, or several within the reserved budget",
        ),
        selectionTimeoutMs: field(
          z.number().int().positive().default(60_000),
          "End the session when the customer chooses nothing for this long",
        ),
        paymentPendingTimeoutMs: field(
          z.number().int().positive().default(180_000),
          "Leave the 'confirm in your app' screen after this long without unlock (the session then ends with " +
            "payment-timeout and a later unlock for it is refused). Keep it longer than the bridge's " +
            "timeouts.paymentConfirmMs + timeouts.unlockAckMs (defaults 120 s + 10 s), or the machine gives up on " +
            "payments the bridge still completes",
        ),
      })
      .prefault({}),
    "Vend session behaviour",
  ),
  display: field(
    z
      .strictObject({
        renderer: field(
          z.enum(["kiosk", "framebuffer", "terminal", "none"]).default("kiosk"),
          "Where the screens are drawn",
        ),
        kioskHost: field(
          z.string().default("127.0.0.1"),
          "Address of the kiosk page (loopback: only the local browser sees it)",
        ),
        kioskPort: field(z.number().int().min(0).max(65535).default(8080), "Port of the kiosk page"),
        framebufferDevice: field(z.string().default("/dev/fb0"), "Linux framebuffer device for small screens"),
        panelDiagonalInches: field(
          z.number().positive().max(100).optional(),
          "Diagonal of the framebuffer's panel in inches, so that text is at least 3.5 mm high on it; when unset, known SPI panels by resolution (2.8-inch 320x240, 3.5-inch 480x320, 1.8-inch 160x128), else 0.15 mm pixels",
        ),
        idleText: field(z.string().max(80).default("Scan with the SEQR app to pay"), "Line under the QR code"),
      })
      .prefault({}),
    "The customer's screen",
  ),
  dataDir: field(z.string().min(1).default("/var/lib/vend-agent"), "Directory of the durable journal (on the SD card)"),
  journal: field(
    z
      .strictObject({
        compactAfterBytes: field(
          z
            .number()
            .int()
            .min(1_024)
            .default(1 << 20),
          "Rewrite the journal as one snapshot once this many bytes were appended since the last one (crash tests " +
            "lower it so that compaction happens mid-session)",
        ),
      })
      .prefault({}),
    "The durable journal in dataDir",
  ),
  log: field(z.strictObject({ level: field(z.enum(logLevels).default("info"), "Log level") }).prefault({}), "Logging"),
});

export type AgentConfig = z.output<typeof agentConfigSchema>;

export const agentConfigSpec: ProgramConfigSpec<typeof agentConfigSchema> = {
  program: "vend-agent",
  schema: agentConfigSchema,
};

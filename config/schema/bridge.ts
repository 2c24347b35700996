import { z } from "zod";
import { isLoopbackHost } from "../../backend-bridge/security/insecure-choices.ts";
import { logLevels } from "../../platform/logger.ts";
import { catalog } from "../../protocol/catalog.ts";
import { field, tokenId, urlWithScheme } from "../field.ts";
import type { ProgramConfigSpec } from "../load.ts";

/** HTTPS anywhere; plain HTTP only to this host (a receiver on the bridge's own machine): alarms name the fleet. */
const webhookUrl = urlWithScheme(["https:", "http:"]).refine(
  (value) => {
    if (!URL.canParse(value)) return true; // urlWithScheme has said what is wrong
    const url = new URL(value);
    return url.protocol === "https:" || isLoopbackHost(url.hostname.replace(/^\[|\]$/g, ""));
  },
  { message: "must be https://, or http:// to a loopback address (127.0.0.1, ::1, localhost)" },
);

const hexKey = z.string().regex(/^[0-9a-fA-F]{64,128}$/, "must be 32 to 64 bytes written as hex");

export const machineEntry = z.strictObject({
  name: field(z.string().max(60).optional(), "Human name (site, floor)"),
  mqttPassword: field(
    z.string().min(12).optional(),
    "Password this machine uses on the embedded broker (stored hashed in the store)",
    { secret: true },
  ),
  certificateCn: field(z.string().optional(), "Client-certificate common name accepted instead of a password"),
  commandKey: field(hexKey, "HMAC-SHA256 key that signs every command to this machine (hex)", { secret: true }),
  catalog: field(catalog, "What the machine sells; prices bound the reservation and the invoice rows"),
});

const embeddedBroker = z
  .strictObject({
    mode: z.literal("embedded"),
    tcp: field(
      z
        .strictObject({
          host: field(z.string().default("0.0.0.0"), "Listen address of the plain MQTT listener"),
          port: field(
            z.number().int().min(0).max(65535).default(1883),
            "Port of the plain MQTT listener (0 picks a free one)",
          ),
          enabled: field(
            z.boolean().default(false),
            "Serve plain MQTT: machine passwords and commands travel in clear, so only on a trusted network or loopback (a warning at every start)",
          ),
        })
        .prefault({}),
      "Plain TCP listener",
    ),
    tls: field(
      z
        .strictObject({
          enabled: field(z.boolean().default(true), "Serve MQTT over TLS (needs certFile and keyFile)"),
          host: field(z.string().default("0.0.0.0"), "Listen address of the TLS listener"),
          port: field(z.number().int().min(0).max(65535).default(8883), "Port of the TLS listener"),
          certFile: field(z.string().optional(), "PEM server certificate"),
          keyFile: field(z.string().optional(), "PEM server key"),
          caFile: field(z.string().optional(), "PEM CA for client certificates (enables certificate login)"),
        })
        .prefault({}),
      "TLS listener",
    ),
    drainTimeoutMs: field(
      z.number().int().positive().default(10_000),
      "aedes drainTimeout: drop a subscriber that stalls delivery longer",
    ),
    maxTopicLevels: field(z.number().int().min(4).max(32).default(8), "aedes maxTopicLevels: refuse deeper topics"),
  })
  .superRefine((broker, context) => {
    // Secure by default (issue 18): MQTT over TLS unless plain MQTT is chosen explicitly; no certificate is a config
    // error naming the keys, not a broker that silently serves machine passwords in clear.
    if (broker.tls.enabled) {
      for (const key of ["certFile", "keyFile"] as const) {
        if (broker.tls[key] === undefined) {
          context.addIssue({
            code: "custom",
            path: ["tls", key],
            params: { missingKey: true },
            message: `required: the embedded broker serves MQTT over TLS by default (broker.tls.enabled). Give broker.tls.certFile and broker.tls.keyFile (PEM), or set broker.tls.enabled: false and broker.tcp.enabled: true to serve plain MQTT on a trusted network`,
          });
        }
      }
    }
    if (!broker.tcp.enabled && !broker.tls.enabled) {
      context.addIssue({
        code: "custom",
        path: ["tls", "enabled"],
        message: "the embedded broker needs a listener: enable broker.tls (or broker.tcp on a trusted network)",
      });
    }
  });

const externalBroker = z.strictObject({
  mode: z.literal("external"),
  url: field(urlWithScheme(["mqtt:", "mqtts:"]), "URL of the fleet's broker (Mosquitto, EMQX, HiveMQ)"),
  caFile: field(z.string().optional(), "PEM CA of the broker"),
  sharedSubscriptionGroup: field(
    z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default("vend-bridge"),
    "$share group so several bridges split the event stream",
  ),
  mosquitto: field(
    z
      .strictObject({
        passwordFile: field(
          z.string().min(1),
          "Mosquitto's password_file, written whole by `vend-bridge machines` from the store: every machine with a password and the bridge's own user, as $7$ PBKDF2-SHA512 lines",
        ),
        aclFile: field(
          z.string().min(1),
          "Mosquitto's acl_file, written whole with it: the bridge's user on bridgeMqtt.rootTopic/#, and one pattern line per topic kind (%u) for every machine",
        ),
        pidFile: field(
          z.string().min(1).optional(),
          "Mosquitto's pid_file: the files are reloaded by sending SIGHUP to that process (or give reloadCommand)",
        ),
        reloadCommand: field(
          z.array(z.string().min(1)).min(1).optional(),
          'Command run without a shell to make Mosquitto reload the files, e.g. ["systemctl", "reload", "mosquitto"] (instead of pidFile)',
        ),
      })
      // A remove that is not reloaded leaves the machine able to log in: a way to reload is not optional.
      .superRefine((mosquitto, context) => {
        if ((mosquitto.pidFile === undefined) === (mosquitto.reloadCommand === undefined)) {
          context.addIssue({
            code: "custom",
            path: ["pidFile"],
            params: { missingKey: mosquitto.pidFile === undefined },
            message:
              "give exactly one of broker.mosquitto.pidFile (SIGHUP) and broker.mosquitto.reloadCommand: without a reload, a removed machine could still log in",
          });
        }
      })
      .optional(),
    "Provision each machine's login and ACL into this Mosquitto at `machines add|rotate-password|remove` (docs/external-mosquitto.md); absent: the broker's users are managed elsewhere",
  ),
});

export const bridgeConfigSchema = z
  .strictObject({
    http: field(
      z
        .strictObject({
          host: field(z.string().default("0.0.0.0"), "Listen address of the HTTP(S) API"),
          port: field(z.number().int().min(0).max(65535).default(8443), "Listen port of the HTTP(S) API"),
          certFile: field(z.string().optional(), "PEM server certificate (HTTPS)"),
          keyFile: field(z.string().optional(), "PEM server key (HTTPS)"),
          caFile: field(z.string().optional(), "PEM CA for createPurchase client certificates"),
          plainHttp: field(
            z.boolean().default(false),
            "Serve plain HTTP; only behind a TLS-terminating reverse proxy (a warning at every start)",
          ),
          publicBaseUrl: field(
            urlWithScheme(["https:", "http:"]),
            "Public base URL as SEQR reaches it; notification URLs are built on it",
          ),
          bodyLimitBytes: field(
            z.number().int().min(256).max(1_048_576).default(16_384),
            "Largest request body accepted",
          ),
          rateLimitPerTokenPerMinute: field(
            z.number().int().positive().default(30),
            "createPurchase calls one caller (authenticated name and source address) may make for one machine per minute; more are answered DEVICE_IN_USE without an invoice",
          ),
          headersTimeoutMs: field(
            z.number().int().min(1_000).max(120_000).default(10_000),
            "A connection whose request headers are not complete by then is closed (slow-loris guard)",
          ),
          requestTimeoutMs: field(
            z.number().int().min(1_000).max(300_000).default(30_000),
            "A connection whose whole request (headers and body) is not received by then is closed; at least headersTimeoutMs",
          ),
          keepAliveTimeoutMs: field(
            z.number().int().min(100).max(120_000).default(5_000),
            "An idle keep-alive connection is closed after this long",
          ),
          maxConnections: field(
            z.number().int().min(1).max(100_000).default(1_024),
            "Open connections to the public API at most; more are dropped at once",
          ),
          maxRequestsPerSocket: field(
            z.number().int().min(1).max(100_000).default(100),
            "Requests one keep-alive connection may carry; the last is answered with Connection: close",
          ),
          rateLimitPerCallerPerMinute: field(
            z.number().int().positive().default(600),
            "createPurchase calls one caller (authenticated name and source address) may make per minute, all machines together; more are answered SYSTEM_ERROR",
          ),
        })
        // HTTPS without its files is a config error naming the keys (exit 78), not a crash when the server starts.
        .superRefine((http, context) => {
          if (http.requestTimeoutMs < http.headersTimeoutMs) {
            context.addIssue({
              code: "custom",
              path: ["requestTimeoutMs"],
              message: `requestTimeoutMs (${http.requestTimeoutMs}) must be at least headersTimeoutMs (${http.headersTimeoutMs}): the request includes its headers`,
            });
          }
          if (http.plainHttp) return;
          for (const key of ["certFile", "keyFile"] as const) {
            if (http[key] === undefined) {
              context.addIssue({
                code: "custom",
                path: [key],
                params: { missingKey: true },
                message:
                  "required: the bridge serves HTTPS by default. Give http.certFile and http.keyFile (PEM), or set http.plainHttp: true only behind a TLS-terminating reverse proxy",
              });
            }
          }
        }),
      "The HTTP API that SEQR's UPS and SEQR's notifications reach",
    ),
    admin: field(
      z
        .strictObject({
          host: field(
            z.string().default("127.0.0.1"),
            "Listen address of /healthz and /metrics; loopback by default, since metrics tell an attacker about the fleet (a warning at every start when not loopback)",
          ),
          port: field(
            z.number().int().min(0).max(65535).default(9464),
            "Port of /healthz and /metrics (0 picks a free one)",
          ),
        })
        .prefault({}),
      "The operations listener (/healthz, /metrics), separate from the public API",
    ),
    callerAuth: field(
      z
        .strictObject({
          mode: field(
            z.enum(["none", "basic", "client-certificate"]).default("basic"),
            "How createPurchase callers are authenticated; none only when a reverse proxy authenticates them (a warning at every start)",
          ),
          username: field(z.string().optional(), "Basic-auth user"),
          password: field(z.string().min(12).optional(), "Basic-auth password", { secret: true }),
          allowedCertificateCns: field(
            z.array(z.string()).default([]),
            "Client-certificate common names allowed to call",
          ),
        })
        .superRefine((auth, context) => {
          if (auth.mode !== "basic") return;
          for (const key of ["username", "password"] as const) {
            if (auth[key] === undefined) {
              context.addIssue({
                code: "custom",
                path: [key],
                params: { missingKey: true },
                message:
                  "required: createPurchase callers are authenticated with basic auth by default. Give callerAuth.username and callerAuth.password, or choose callerAuth.mode client-certificate, or none only when a reverse proxy authenticates the caller",
              });
            }
          }
        })
        .prefault({}),
      "Authentication of the createPurchase caller (SEQR documents none; add one at the proxy or here)",
    ),
    seqr: field(
      z.strictObject({
        endpointUrl: field(urlWithScheme(["https:", "http:"]), "SEQR SOAP endpoint (the WSDL URL without ?wsdl)"),
        terminalId: field(z.string().min(1), "TERMINALID principal from the start-up kit"),
        password: field(z.string().min(4), "Terminal password", { secret: true }),
        clientId: field(
          z.string().max(60).default("seqr-vend"),
          "clientId in every ClientContext (certification wants the company name)",
        ),
        channel: field(z.string().max(40).default("WS"), "ClientContext channel"),
        requestTimeoutMs: field(z.number().int().positive().default(10_000), "Timeout of one SOAP call"),
        commitReservationTimeoutSeconds: field(
          z.number().int().min(60).max(86_400).default(600),
          "How long SEQR holds a reservation",
        ),
        resellerUser: field(
          z
            .strictObject({
              id: field(z.string().min(1), "resellerId from the start-up kit (e.g. public_test_shop)"),
              userId: field(z.string().min(1), "The reseller user's fixed userId (e.g. 9900)"),
              password: field(z.string().min(4), "The reseller user's password", { secret: true }),
            })
            .optional(),
          "RESELLERUSER principal for the period close (markTransactionPeriod, executeReport); without it the bridge closes no period",
        ),
        submitReceipts: field(
          z.boolean().default(true),
          "After a commit, send the billed rows to SEQR as the customer's receipt (submitPaymentReceipt; best effort)",
        ),
      }),
      "SEQR merchant API",
    ),
    reconciliation: field(
      z
        .strictObject({
          periodCloseIntervalMs: field(
            z
              .number()
              .int()
              .min(60_000)
              .max(7 * 86_400_000)
              .default(86_400_000),
            "How often the bridge closes SEQR's transaction period and compares SEQR's report with its own ledger (needs seqr.resellerUser); daily by default",
          ),
          reportId: field(
            z.string().min(1).default("Reconciliation/Shop.xml"),
            "The SEQR report run on the closed period (executeReport)",
          ),
          reportRetryMs: field(
            z.number().int().min(100).max(60_000).default(3_000),
            "Wait before asking for the report, and between tries while SEQR answers 2 REPORT_NOT_READY",
          ),
          reportAttempts: field(
            z.number().int().min(1).max(20).default(5),
            "How many times the report is asked for before the close is recorded as failed",
          ),
        })
        .prefault({}),
      "Reconciliation of the bridge's ledger with SEQR's (the period close)",
    ),
    alarms: field(
      z
        .strictObject({
          offlineAfterMs: field(
            z
              .number()
              .int()
              .min(1_000)
              .max(7 * 86_400_000)
              .default(600_000),
            "Raise 'machine offline' when a machine has been offline this long (10 minutes by default); counted from the bridge's start for a machine already offline then",
          ),
          reconciliationStuckAfterMs: field(
            z
              .number()
              .int()
              .min(60_000)
              .max(30 * 86_400_000)
              .default(86_400_000),
            "Raise 'reconciliation item stuck' when a flagged purchase stays unresolved this long (24 hours by default)",
          ),
          evaluateIntervalMs: field(
            z.number().int().min(200).max(600_000).default(30_000),
            "How often the alarms are evaluated (also at every change of a machine's availability)",
          ),
          webhook: field(
            z
              .strictObject({
                url: field(
                  webhookUrl.optional(),
                  "POST every alarm raised and cleared to this URL as JSON; HTTPS, or plain HTTP to a loopback address only; no webhook when absent (the default)",
                ),
                secret: field(
                  z.string().min(16).optional(),
                  "Shared secret: each POST carries X-Seqr-Vend-Signature: sha256=<HMAC-SHA256 of the body, hex>",
                  { secret: true },
                ),
                timeoutMs: field(z.number().int().min(100).max(60_000).default(5_000), "Timeout of one POST"),
                attempts: field(
                  z.number().int().min(1).max(20).default(6),
                  "Tries per notification (network error, timeout, 408, 429 or 5xx) before it is dropped with an error in the log",
                ),
                retryBaseMs: field(
                  z.number().int().min(10).max(60_000).default(1_000),
                  "Wait before the second try, doubled for each further try (at most one minute)",
                ),
              })
              .prefault({}),
            "Webhook for alarms (off by default)",
          ),
        })
        .prefault({}),
      "Alarms shown in the console and posted to a webhook: machine offline, jammed slot, reconciliation item stuck",
    ),
    broker: field(
      z.discriminatedUnion("mode", [embeddedBroker, externalBroker]),
      "MQTT: the embedded aedes broker, or an existing broker by URL",
      // prefault, not default: the default is parsed, so an absent broker gets the embedded broker's secure defaults
      // (and their checks) instead of a bare { mode } without listeners.
    ).prefault({ mode: "embedded" }),
    bridgeMqtt: field(
      z
        .strictObject({
          username: field(z.string().default("vend-bridge"), "The bridge's own MQTT user (may use every topic)"),
          password: field(z.string().min(12).optional(), "The bridge's own MQTT password", { secret: true }),
          rootTopic: field(
            z
              .string()
              .regex(/^[^#+]+[^/#+]$/)
              .default("vending/v1"),
            "Root of the MQTT contract's topics",
          ),
        })
        .prefault({}),
      "The bridge's MQTT identity",
    ),
    store: field(
      z
        .strictObject({
          url: field(
            urlWithScheme(["sqlite:", "postgres:", "postgresql:"]),
            "sqlite:/var/lib/vend-bridge/bridge.db (embedded) or postgres://user@host/db",
          ).default("sqlite:/var/lib/vend-bridge/bridge.db"),
          keepMsisdn: field(z.boolean().default(false), "Keep the customer's phone number after the session ends"),
        })
        .prefault({}),
      "Durable store of sessions, vends, outbox and audit log",
    ),
    machines: field(z.record(tokenId, machineEntry).default({}), "Machine registry: machine id (QR token) -> machine"),
    timeouts: field(
      z
        .strictObject({
          paymentConfirmMs: field(
            z.number().int().positive().default(120_000),
            "Cancel the invoice when the customer has not confirmed by then",
          ),
          unlockAckMs: field(
            z.number().int().positive().default(30_000),
            "Stop offering a machine that has not acknowledged its unlock by then (the reservation is kept while the unlock may still be honoured); at least commandTtlMs",
          ),
          statusPollIntervalMs: field(
            z.number().int().positive().max(10_000).default(3_000),
            "getPaymentStatus polling when no notification arrives; at most 10000, because SEQR reverses a payment not queried within 20 s and a lost notification leaves only the poll to do it (a call may take up to 5 s)",
          ),
          sessionMaxMs: field(
            z.number().int().positive().default(300_000),
            "Close a session that never reports its end",
          ),
          commandTtlMs: field(z.number().int().positive().default(30_000), "expiresAt of commands sent to machines"),
          createPurchaseMs: field(
            z.number().int().min(1_000).max(30_000).default(4_500),
            "createPurchase answers an error by then (SEQR's UPS waits about 5 s), releases the machine, and cancels an invoice SEQR creates later",
          ),
          sweepIntervalMs: field(
            z.number().int().min(1_000).max(300_000).default(10_000),
            "How often every instance looks for open purchases whose deadline passed unhandled (their instance died) and handles them, and polls SEQR for the payments other instances started; above 10000 a payment confirmed while its instance is dead may be reversed (SEQR's 20-second rule)",
          ),
          clockSkewMs: field(
            z.number().int().min(0).max(600_000).default(60_000),
            "How far a machine's clock may lag the bridge's: an unacknowledged unlock counts as possibly honoured until its expiresAt plus this",
          ),
          availabilityResyncMs: field(
            z.number().int().min(1_000).max(300_000).default(10_000),
            "How often the bridge asks the broker again for the retained availability of registered machines it does not count online: a broker drops messages beyond a client's queue (Mosquitto's max_queued_messages), as in the burst after a broker restart",
          ),
        })
        // A machine may act on an unlock until it expires: declaring it unresponsive earlier would cancel a
        // reservation the machine is still vending on (issue 15, defect 3).
        .superRefine((timeouts, context) => {
          if (timeouts.unlockAckMs < timeouts.commandTtlMs) {
            context.addIssue({
              code: "custom",
              path: ["unlockAckMs"],
              message: `unlockAckMs (${timeouts.unlockAckMs}) must be at least commandTtlMs (${timeouts.commandTtlMs}): a machine may still act on an unlock until it expires`,
            });
          }
        })
        .prefault({}),
      "Timers of the purchase",
    ),
    log: field(
      z.strictObject({ level: field(z.enum(logLevels).default("info"), "Log level") }).prefault({}),
      "Logging",
    ),
  })
  .superRefine((config, context) => {
    // The bridge's own line in Mosquitto's password file is made from this password.
    if (
      config.broker.mode === "external" &&
      config.broker.mosquitto !== undefined &&
      config.bridgeMqtt.password === undefined
    ) {
      context.addIssue({
        code: "custom",
        path: ["bridgeMqtt", "password"],
        params: { missingKey: true },
        message:
          "required: broker.mosquitto writes the bridge's own login into Mosquitto's password file; give bridgeMqtt.password",
      });
    }
    if (config.callerAuth.mode !== "client-certificate") return;
    if (config.http.plainHttp) {
      context.addIssue({
        code: "custom",
        path: ["callerAuth", "mode"],
        message:
          "client-certificate needs HTTPS: http.plainHttp is true (let the proxy check certificates, or serve HTTPS)",
      });
    } else if (config.http.caFile === undefined) {
      context.addIssue({
        code: "custom",
        path: ["http", "caFile"],
        params: { missingKey: true },
        message: "required: callerAuth.mode client-certificate checks callers against http.caFile (PEM)",
      });
    }
  });

export type BridgeConfig = z.output<typeof bridgeConfigSchema>;

export const bridgeConfigSpec: ProgramConfigSpec<typeof bridgeConfigSchema> = {
  program: "vend-bridge",
  schema: bridgeConfigSchema,
};

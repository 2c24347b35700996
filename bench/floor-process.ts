/**
 * The floor of a purchase for bench/purchase-cost.ts, in a process of its own: the same hops as the bridge, done bare,
 * with one durable write per money-moving transition (claim, invoiced, reserved, vended, session ended, closed: 6),
 * and nothing else: no validation, no state machine, no signing, no audit, no retries.
 *
 *   POST /createPurchase   write (claim) -> sendInvoice to SEQR -> write (invoiced) -> {invoiceReferenceId}
 *   POST /notify/<secret>  200 at once, then getPaymentStatus -> write (reserved) -> MQTT publish of `unlock`
 *   MQTT events            vended -> write; session-ended -> write -> commitReservation -> write (closed)
 *
 * MQTT goes through an aedes broker in this process (TCP_NODELAY, the machines log in with their own passwords, a
 * plain comparison), which the floor reads and publishes to in-process. A durable write is a one-row transaction:
 * SQLite in WAL mode with synchronous=FULL (its COMMIT fsyncs the WAL), or a one-row INSERT on PostgreSQL (its
 * COMMIT flushes the WAL). The SOAP envelopes are the bridge's own (backend-bridge/seqr/request-encoder.ts), encoded
 * once with placeholders that each call replaces.
 *
 *   node --import tsx bench/floor-process.ts '<FloorOptions as JSON>'   (JSON lines: {ready}, then orders
 *   {kind: "writes"} -> {writes}, {kind: "stop"})
 */
import { randomUUID } from "node:crypto";
import { Agent, request } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { Aedes } from "aedes";
import Database from "better-sqlite3";
import pg from "pg";
import { encodeRequest, type SeqrRequest } from "../backend-bridge/seqr/request-encoder.ts";
import { parseTopic } from "../protocol/topics.ts";
import { serveOrders } from "./fleet-sim.ts";

export interface FloorOptions {
  store: { kind: "sqlite"; file: string } | { kind: "postgres"; url: string; schema: string };
  seqrUrl: string;
  httpPort: number;
  mqttPort: number;
  rootTopic: string;
  machines: { id: string; password: string }[];
}

/** One durable write: resolves once the row is on disk. */
type DurableWrite = (sessionId: string, kind: string) => Promise<void>;

async function openWriter(store: FloorOptions["store"]): Promise<{ write: DurableWrite; close(): Promise<void> }> {
  if (store.kind === "sqlite") {
    const db = new Database(store.file);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec(
      "CREATE TABLE IF NOT EXISTS floor_writes (id INTEGER PRIMARY KEY, session TEXT NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL)",
    );
    const insert = db.prepare("INSERT INTO floor_writes (session, kind, at) VALUES (?, ?, ?)");
    return {
      write: async (sessionId, kind) => {
        insert.run(sessionId, kind, Date.now());
      },
      close: async () => {
        db.close();
      },
    };
  }
  // As many connections as the bridge's pool (backend-bridge/store/postgres-driver.ts).
  const pool = new pg.Pool({ connectionString: store.url, max: 10 });
  const table = `${store.schema}.floor_writes`;
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${store.schema}`);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${table} (id BIGSERIAL PRIMARY KEY, session TEXT NOT NULL, kind TEXT NOT NULL, at BIGINT NOT NULL)`,
  );
  const text = `INSERT INTO ${table} (session, kind, at) VALUES ($1, $2, $3)`;
  return {
    write: async (sessionId, kind) => {
      await pool.query({ name: "floor-write", text, values: [sessionId, kind, Date.now()] });
    },
    close: () => pool.end(),
  };
}

/** The bridge's envelopes with placeholders: each call replaces them, nothing is encoded per call. */
function soapTemplates(notifyBase: string) {
  const context = {
    channel: "WS",
    clientId: "seqr-vend-floor",
    clientReference: "CLIENTREF0",
    principal: { type: "TERMINALID" as const, id: "public_test_shop_terminal" },
    password: "12345678",
  };
  const euros = (minor: number) => ({ minor, currency: "EUR" });
  const encode = (call: SeqrRequest) => encodeRequest(call, context);
  return {
    sendInvoice: encode({
      operation: "sendInvoice",
      issueDate: "2026-01-01T00:00:00",
      invoice: {
        paymentMode: "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT",
        title: "Vending MACHINEID0",
        clientInvoiceId: "CLIENTINVOICEID0",
        cashierId: "MACHINEID0",
        rows: [{ description: "Reservation", quantity: 1, total: euros(2_000) }],
        total: euros(2_000),
        notificationUrl: `${notifyBase}/NOTIFYSECRET0`,
        commitReservationTimeoutSeconds: 600,
      },
    }),
    getPaymentStatus: encode({ operation: "getPaymentStatus", invoiceReference: "INVOICEREF0", invoiceVersion: 0 }),
    commitReservation: encode({ operation: "commitReservation", invoiceReference: "INVOICEREF0", amount: euros(150) }),
  };
}

interface Session {
  machineId: string;
  invoiceReference: string;
  /** A machine's events are handled one after the other, as the bridge does. */
  chain: Promise<void>;
}

async function main(options: FloorOptions): Promise<void> {
  const { write, close } = await openWriter(options.store);
  const templates = soapTemplates(`http://127.0.0.1:${options.httpPort}/notify`);
  const seqr = new URL(`${options.seqrUrl}/soap`);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  let writes = 0;
  const durable: DurableWrite = async (sessionId, kind) => {
    await write(sessionId, kind);
    writes++;
  };
  const post = (body: string) =>
    new Promise<string>((resolve, reject) => {
      const call = request(
        seqr,
        {
          method: "POST",
          agent,
          headers: { "content-type": "text/xml; charset=UTF-8", "content-length": Buffer.byteLength(body) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        },
      );
      call.on("error", reject);
      call.end(body);
    });
  let calls = 0;
  const clientReference = () => `F${(calls++).toString(36).padStart(9, "0")}`;
  const bySecret = new Map<string, string>();
  const sessions = new Map<string, Session>();

  const passwords = new Map(options.machines.map((m) => [m.id, m.password]));
  const broker = await Aedes.createBroker({
    authenticate: (_client, username, password, done) =>
      done(null, username !== undefined && passwords.get(username) === password?.toString()),
  });
  const mqttServer = createTcpServer({ noDelay: true }, (socket: Socket) => broker.handle(socket));
  await new Promise<void>((resolve) => mqttServer.listen(options.mqttPort, "127.0.0.1", resolve));

  const createPurchase = async (body: string): Promise<string> => {
    const { token } = JSON.parse(body) as { token: string };
    const sessionId = randomUUID();
    const notifySecret = randomUUID();
    await durable(sessionId, "claimed");
    const answer = await post(
      templates.sendInvoice
        .replace("CLIENTREF0", clientReference())
        .replaceAll("MACHINEID0", token)
        .replace("CLIENTINVOICEID0", sessionId)
        .replace("NOTIFYSECRET0", notifySecret),
    );
    const invoiceReference = /<invoiceReference>([^<]+)</.exec(answer)?.[1] ?? "";
    await durable(sessionId, "invoiced");
    bySecret.set(notifySecret, sessionId);
    sessions.set(sessionId, { machineId: token, invoiceReference, chain: Promise.resolve() });
    return JSON.stringify({ invoiceReferenceId: invoiceReference });
  };

  const notified = async (secret: string): Promise<void> => {
    const sessionId = bySecret.get(secret);
    const session = sessionId ? sessions.get(sessionId) : undefined;
    if (!sessionId || !session) return;
    bySecret.delete(secret);
    const answer = await post(
      templates.getPaymentStatus
        .replace("CLIENTREF0", clientReference())
        .replace("INVOICEREF0", session.invoiceReference),
    );
    if (/<status>(\w+)</.exec(answer)?.[1] !== "RESERVED") return;
    await durable(sessionId, "reserved");
    const now = Date.now();
    const unlock = { commandId: randomUUID(), issuedAt: now, expiresAt: now + 30_000, sessionId, budgetMinor: 2_000 };
    broker.publish(
      {
        cmd: "publish",
        topic: `${options.rootTopic}/${session.machineId}/cmd/unlock`,
        payload: Buffer.from(JSON.stringify({ ...unlock, currency: "EUR" })),
        qos: 1,
        retain: false,
        dup: false,
      },
      () => undefined,
    );
  };

  const onEvent = async (name: string, sessionId: string, session: Session): Promise<void> => {
    if (name === "vended") await durable(sessionId, "vended");
    if (name !== "session-ended") return;
    await durable(sessionId, "ended");
    await post(
      templates.commitReservation
        .replace("CLIENTREF0", clientReference())
        .replace("INVOICEREF0", session.invoiceReference),
    );
    await durable(sessionId, "closed");
    sessions.delete(sessionId);
  };
  broker.on("publish", (packet, client) => {
    if (!client) return;
    const topic = parseTopic(options.rootTopic, packet.topic);
    if (topic?.kind !== "event") return;
    const { sessionId } = JSON.parse(packet.payload.toString()) as { sessionId: string };
    const session = sessions.get(sessionId);
    if (!session) return;
    session.chain = session.chain.then(() => onEvent(topic.name, sessionId, session)).catch(fail);
  });

  const httpServer = (await import("node:http")).createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = req.url ?? "/";
      if (url === "/createPurchase") {
        createPurchase(Buffer.concat(chunks).toString("utf8")).then((answer) => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(answer);
        }, fail);
        return;
      }
      if (url.startsWith("/notify/")) {
        res.writeHead(200);
        res.end();
        notified(url.slice("/notify/".length)).catch(fail);
        return;
      }
      res.writeHead(404);
      res.end();
    });
  });
  httpServer.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => httpServer.listen(options.httpPort, "127.0.0.1", resolve));

  await serveOrders<{ kind: "writes" | "stop" }>(async (order) => {
    if (order.kind === "stop") {
      httpServer.close();
      httpServer.closeAllConnections();
      mqttServer.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await close();
      return { stopped: true };
    }
    return { writes };
  });
}

function fail(error: unknown): void {
  console.error("floor:", error);
  process.exit(1);
}

if (process.argv[1] === import.meta.filename) {
  await main(JSON.parse(process.argv[2] ?? "{}") as FloorOptions);
}

import { createHash, timingSafeEqual } from "node:crypto";
import { type AddressInfo, createServer as createTcpServer, type Server, type Socket } from "node:net";
import { Readable } from "node:stream";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { Aedes, type AedesOptions, type AuthenticateError, type Client, type ConnectPacket } from "aedes";
import type { Logger } from "../../platform/logger.ts";
import { isClientIdOf } from "../../protocol/client-ids.ts";
import {
  authorizePublishTopic,
  authorizeSubscribeFilter,
  authorizeWill,
  type BrokerIdentity,
} from "./access-control.ts";
import { LoginThrottle } from "./login-throttle.ts";
import type { MachineCredentials } from "./machine-credentials.ts";
import { hashMachineSecret, needsRehash, verifyMachineSecret } from "./machine-secret.ts";
import { VerifiedPasswordCache } from "./password-hash.ts";
import { RetainedIndex, type RetainedPacket } from "./retained-index.ts";

/**
 * The bridge's embedded MQTT broker (aedes 1.2, MQTT 3.1.1): a plain TCP and/or a TLS listener, per-machine logins
 * (username = client id = machine id, with a password checked against a scrypt hash or a TLS client certificate
 * whose CN names the machine), the ACL of access-control.ts, and the guards aedes' docs recommend (drainTimeout,
 * maxTopicLevels, connectTimeout). Both listeners set TCP_NODELAY: QoS 1 exchanges otherwise wait for delayed ACKs.
 */

export interface ListenerOptions {
  host: string;
  /** 0 picks a free port; the bound one is returned. */
  port: number;
}

export interface TlsListenerOptions extends ListenerOptions {
  cert: string | Buffer;
  key: string | Buffer;
  /** CA of the machines' client certificates: enables certificate login. */
  ca?: string | Buffer;
}

export interface EmbeddedBrokerOptions {
  rootTopic: string;
  credentials: MachineCredentials;
  /** The bridge's own user: may use every topic. Without a password it cannot log in at all. */
  bridgeUser: { username: string; password?: string };
  tcp?: ListenerOptions;
  tls?: TlsListenerOptions;
  drainTimeoutMs: number;
  maxTopicLevels: number;
  /** A socket that has not sent CONNECT by then is dropped (aedes' default is 30 s). */
  connectTimeoutMs?: number;
  /**
   * Machines' CONNECTs wait (no CONNACK yet) until `admitMachines()`: the bridge's own link subscribes first, so that
   * nothing a machine publishes right after connecting (availability, resent events, command refusals) goes to no
   * subscriber. The bridge's user is never held. Default false: machines are admitted at once.
   */
  holdMachinesUntilAdmitted?: boolean;
  logger: Logger;
}

export interface EmbeddedBroker {
  readonly aedes: Aedes;
  /** Bound ports, when the listener is enabled. */
  readonly tcpPort: number | undefined;
  readonly tlsPort: number | undefined;
  connectedClients(): number;
  /** Lets held machine logins (holdMachinesUntilAdmitted) and all later ones through; idempotent. */
  admitMachines(): void;
  /** The identity a connected client logged in with (for diagnostics and tests). */
  identityOf(client: Client): BrokerIdentity | undefined;
  close(): Promise<void>;
}

/** CONNACK return codes of MQTT 3.1.1 that aedes lets authenticate choose. */
const connackCode = { identifierRejected: 2, badCredentials: 4, notAuthorized: 5 } as const;

function refusal(returnCode: 2 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function sameSecret(given: Buffer, expected: string): boolean {
  // Hash both sides so that the comparison is constant-time whatever the lengths.
  const digest = (value: Buffer | string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** The CN of a verified client certificate, or undefined (no certificate, or one our CA did not sign). */
function verifiedCertificateCn(conn: unknown): string | undefined {
  const socket = conn as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== "function" || socket.authorized !== true) return undefined;
  const cn: unknown = socket.getPeerCertificate().subject?.CN;
  // A certificate with several CNs names no single machine.
  return typeof cn === "string" && cn.length > 0 ? cn : undefined;
}

/** The peer's address (IP), for throttling failed logins; "unknown" for a connection without one. */
function remoteAddressOf(client: Client): string {
  const address = (client.conn as Partial<{ remoteAddress: string }>).remoteAddress;
  return typeof address === "string" && address.length > 0 ? address : "unknown";
}

/**
 * The accept queue asked of the kernel, which caps it at net.core.somaxconn (4096 on current Linux). Node's 511
 * overflowed when a fleet reconnected at once, and every dropped handshake waited for the client's SYN retransmission
 * (1, 3, 7, 15, 31 s).
 */
export const listenBacklog = 65_535;

function listen(server: Server, options: ListenerOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: options.port, host: options.host, backlog: listenBacklog }, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Clients closed per turn of the event loop at shutdown: mqemitter's concurrency in aedes 1.2. */
const closeBatchSize = 100;

/**
 * aedes.close() ends every client in one synchronous loop, and each publishes its will: mqemitter queues what exceeds
 * its concurrency and recurses once per queued message, so a few thousand machines overflow the stack and the bridge
 * dies on its way down ("Maximum call stack size exceeded"). Ending them in batches, a turn of the event loop apart,
 * keeps that queue short; aedes.close() then finds no client left.
 */
async function closeClientsInBatches(aedes: Aedes): Promise<void> {
  for (;;) {
    // `clients` (id -> client) is public in aedes' JavaScript but missing from its type declarations.
    const clients = (aedes as unknown as { clients: Record<string, Client> }).clients;
    const batch = Object.values(clients)
      .filter((client) => !client.closed)
      .slice(0, closeBatchSize);
    if (batch.length === 0) return;
    await Promise.all(batch.map((client) => new Promise<void>((resolve) => client.close(() => resolve()))));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * mqemitter (aedes' message bus, 100 messages at once) takes the next queued message on the stack of the one that
 * just finished. A message whose listeners all finish synchronously (one nobody subscribes to: `$SYS/.../disconnect/
 * clients` for every client that leaves, or the wills once the bridge's link is gone) finishes right there, so when
 * thousands of machines disconnect together the stack grows by a few frames per queued message until "Maximum call
 * stack size exceeded" kills the bridge (seen ending a 5,000-machine bench). One listener on every topic that
 * finishes on the next turn of the event loop keeps each message's completion off the previous one's stack.
 */
function finishEveryMessageOnAFreshStack(aedes: Aedes): void {
  // `mq` is public in aedes' JavaScript but missing from its type declarations, as `clients` is.
  const bus = (
    aedes as unknown as { mq: { on(topic: string, listener: (packet: unknown, done: () => void) => void): void } }
  ).mq;
  bus.on("#", (_packet, done) => {
    setImmediate(done);
  });
}

/**
 * Replaces the memory persistence's retained store (a Map scanned whole for every new subscription) by a
 * RetainedIndex, which reads only what a filter matches: a machine's login no longer costs in proportion to the fleet.
 */
function indexRetainedMessages(aedes: Aedes): void {
  type RetainedStore = {
    storeRetained(packet: RetainedPacket): Promise<void>;
    createRetainedStream(pattern: string): Readable;
    createRetainedStreamCombi(patterns: string[]): Readable;
  };
  // `persistence` is public in aedes' JavaScript but missing from its type declarations, as `clients` is.
  const persistence = (aedes as unknown as { persistence: RetainedStore }).persistence;
  const index = new RetainedIndex<RetainedPacket>();
  persistence.storeRetained = async (packet) => index.store(packet);
  persistence.createRetainedStream = (pattern) => Readable.from(index.matching(pattern));
  persistence.createRetainedStreamCombi = (patterns) =>
    Readable.from(
      (function* () {
        for (const pattern of patterns) yield* index.matching(pattern);
      })(),
    );
}

/** New connections handed to aedes per turn of the event loop (see admitInTurns). */
export const admittedPerTurn = 50;

/**
 * A burst of connections (a fleet reconnecting, a flood of bad logins: 10,000 at once) is accepted by the kernel in
 * one go, and handing each to aedes at once parsed and refused or admitted all of them before the event loop came back
 * to HTTP: createPurchase waited behind them (p99 1.1 s during a flood of 10,000 bad logins). Connections are handed
 * over `admittedPerTurn` at a time, a turn of the event loop apart, so that HTTP and SEQR's answers get their turn in
 * between. A socket that closed while it waited is skipped.
 */
export function admitInTurns<S extends { destroyed: boolean }>(handle: (socket: S) => void): (socket: S) => void {
  let queue: S[] = [];
  let next = 0;
  let scheduled = false;
  const drain = () => {
    for (let handed = 0; handed < admittedPerTurn && next < queue.length; next++) {
      const socket = queue[next] as S;
      if (socket.destroyed) continue;
      handle(socket);
      handed++;
    }
    if (next < queue.length) {
      setImmediate(drain);
      return;
    }
    queue = [];
    next = 0;
    scheduled = false;
  };
  return (socket) => {
    queue.push(socket);
    if (scheduled) return;
    scheduled = true;
    setImmediate(drain);
  };
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const logger = options.logger;
  const root = options.rootTopic;
  const identities = new WeakMap<Client, BrokerIdentity>();
  /** The will of each CONNECT, kept by preConnect so that authenticate can check it before the CONNACK. */
  const pendingWills = new WeakMap<Client, ConnectPacket["will"]>();
  const passwordCache = new VerifiedPasswordCache();
  const throttle = new LoginThrottle();
  const pruneThrottle = setInterval(() => throttle.prune(Date.now()), 60_000);
  pruneThrottle.unref();
  let admitMachines: () => void = () => undefined;
  const machinesAdmitted = options.holdMachinesUntilAdmitted
    ? new Promise<void>((resolve) => {
        admitMachines = resolve;
      })
    : Promise.resolve();

  async function identify(client: Client, username: string | undefined, password: Buffer | undefined) {
    const certificateCn = verifiedCertificateCn(client.conn);
    if (username === undefined && certificateCn === undefined) {
      throw refusal(connackCode.notAuthorized, "anonymous clients are not accepted");
    }
    if (username !== undefined && username === options.bridgeUser.username) {
      const expected = options.bridgeUser.password;
      if (expected === undefined || password === undefined || !sameSecret(password, expected)) {
        throw refusal(connackCode.badCredentials, "bad bridge credentials");
      }
      return { kind: "bridge", username } as const;
    }
    const machineId = username ?? certificateCn ?? "";
    // The client id is the machine id (or a diagnosis of it): otherwise one machine could take over (kick) another's
    // session.
    if (!isClientIdOf(client.id, machineId)) {
      throw refusal(connackCode.identifierRejected, `client id must be the machine id ${machineId}`);
    }
    const record = await options.credentials.lookup(machineId);
    if (!record) throw refusal(connackCode.badCredentials, `unknown machine ${machineId}`);
    if (certificateCn !== undefined && certificateCn === (record.certificateCn ?? machineId)) {
      return { kind: "machine", machineId } as const;
    }
    const stored = record.passwordHash;
    if (stored === undefined || password === undefined) {
      throw refusal(connackCode.badCredentials, `machine ${machineId} gave no valid certificate nor password`);
    }
    if (!passwordCache.has(machineId, stored, password)) {
      const address = remoteAddressOf(client);
      if (passwordCache.refutes(machineId, stored, password)) {
        throttle.failed(machineId, address, Date.now());
        throw refusal(connackCode.badCredentials, `bad password for machine ${machineId}`);
      }
      // Past the failure limit, an entry that still needs scrypt is refused without it: the flood costs nothing. A
      // current entry is still checked (microseconds), so a machine sharing an address with the flood still gets in.
      const throttled = throttle.refusal(machineId, address, Date.now());
      if (throttled !== undefined && needsRehash(stored)) throw refusal(connackCode.badCredentials, throttled);
      if (!(await verifyMachineSecret(password, stored))) {
        throttle.failed(machineId, address, Date.now());
        throw refusal(connackCode.badCredentials, `bad password for machine ${machineId}`);
      }
      throttle.succeeded(machineId, address);
      passwordCache.remember(machineId, stored, password);
      if (needsRehash(stored) && options.credentials.upgrade) {
        // An entry from before the fast form: the secret is known good now, store it in the form that costs microseconds.
        options.credentials
          .upgrade(machineId, stored, hashMachineSecret(password.toString("utf8")))
          .then((upgraded) => {
            if (upgraded) logger.info({ machineId }, "machine password entry moved to the current hash form");
          })
          .catch((error: unknown) => logger.warn({ machineId, err: error }, "machine password entry not upgraded"));
      }
    }
    return { kind: "machine", machineId } as const;
  }

  const hooks: AedesOptions = {
    drainTimeout: options.drainTimeoutMs,
    maxTopicLevels: options.maxTopicLevels,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // Applies to MQTT 3.1 clients only (3.1.1 has no limit); machine ids are at most 32 characters.
    maxClientsIdLength: 64,
    preConnect: (client, packet, callback) => {
      pendingWills.set(client, packet.will);
      callback(null, true);
    },
    authenticate: (client, username, password, done) => {
      identify(client, username, password)
        .then(async (identity) => {
          if (identity.kind === "machine") await machinesAdmitted;
          return identity;
        })
        .then(
          (identity) => {
            const will = pendingWills.get(client);
            pendingWills.delete(client);
            const decision = authorizeWill(root, identity, will?.topic);
            if (!decision.ok) {
              logger.warn({ clientId: client.id, willTopic: will?.topic }, decision.reason);
              done(refusal(connackCode.notAuthorized, decision.reason), false);
              return;
            }
            identities.set(client, identity);
            done(null, true);
          },
          (error: unknown) => {
            const returnCode = (error as Partial<AuthenticateError>).returnCode ?? connackCode.notAuthorized;
            const message = error instanceof Error ? error.message : String(error);
            logger.warn({ clientId: client.id, username, returnCode }, `MQTT login refused: ${message}`);
            done(refusal(returnCode as 2 | 4 | 5, message), false);
          },
        );
    },
    authorizePublish: (client, packet, callback) => {
      // client is null for the will of a client that died with an earlier broker instance: aedes keeps its id.
      const identity: BrokerIdentity | undefined = client
        ? identities.get(client)
        : { kind: "machine", machineId: String((packet as { clientId?: unknown }).clientId ?? "") };
      if (!identity) {
        callback(new Error("not authenticated"));
        return;
      }
      const decision = authorizePublishTopic(root, identity, packet.topic, packet.retain);
      if (!decision.ok) {
        // MQTT 3.1.1 has no negative PUBACK: aedes closes the offending connection.
        logger.warn({ clientId: client?.id, topic: packet.topic }, `publish refused: ${decision.reason}`);
        callback(new Error(decision.reason));
        return;
      }
      callback(null);
    },
    authorizeSubscribe: (client, subscription, callback) => {
      const identity = identities.get(client);
      const decision = identity
        ? authorizeSubscribeFilter(root, identity, subscription.topic)
        : ({ ok: false, reason: "not authenticated" } as const);
      if (!decision.ok) {
        logger.warn({ clientId: client.id, filter: subscription.topic }, `subscription refused: ${decision.reason}`);
        // null negates the subscription (SUBACK 128) but keeps the connection.
        callback(null, null);
        return;
      }
      callback(null, subscription);
    },
  };

  const aedes = await Aedes.createBroker(hooks);
  finishEveryMessageOnAFreshStack(aedes);
  indexRetainedMessages(aedes);
  aedes.on("clientError", (client, error) => {
    logger.debug({ clientId: client.id, err: error.message }, "MQTT client error");
  });
  aedes.on("connectionError", (client, error) => {
    logger.debug({ clientId: client?.id, err: error.message }, "MQTT connection error");
  });

  const admit = admitInTurns((socket: Socket) => aedes.handle(socket));
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  const servers: Server[] = [];
  let tcpPort: number | undefined;
  let tlsPort: number | undefined;
  try {
    if (options.tcp) {
      const server = createTcpServer({ noDelay: true }, (socket) => {
        track(socket);
        admit(socket);
      });
      servers.push(server);
      tcpPort = await listen(server, options.tcp);
    }
    if (options.tls) {
      const ca = options.tls.ca;
      const server = createTlsServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          ...(ca !== undefined ? { ca, requestCert: true } : {}),
          // Machines without a certificate may still log in with a password: the certificate is checked in authenticate.
          rejectUnauthorized: false,
        },
        (socket) => {
          socket.setNoDelay(true);
          track(socket);
          admit(socket);
        },
      );
      server.on("tlsClientError", (error) => logger.debug({ err: error.message }, "TLS handshake failed"));
      servers.push(server);
      tlsPort = await listen(server, options.tls);
    }
  } catch (error) {
    for (const server of servers) server.close();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw error;
  }
  logger.info({ tcpPort, tlsPort, rootTopic: root }, "embedded MQTT broker listening");

  let closing: Promise<void> | undefined;
  return {
    aedes,
    tcpPort,
    tlsPort,
    connectedClients: () => aedes.connectedClients,
    admitMachines: () => admitMachines(),
    identityOf: (client) => identities.get(client),
    close: () => {
      clearInterval(pruneThrottle);
      closing ??= (async () => {
        // Held logins are let go so that aedes can end them with the rest.
        admitMachines();
        const closed = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
        await closeClientsInBatches(aedes);
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        // aedes has ended its clients; a socket still half-open (no CONNECT yet) must not hold the close up.
        for (const socket of sockets) socket.destroy();
        await Promise.all(closed);
        logger.info("embedded MQTT broker closed");
      })();
      return closing;
    },
  };
}

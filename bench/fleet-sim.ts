/**
 * Simulated fleets for the benches (issue 17): machines that are real MQTT clients with their own credentials, held
 * by child processes (one process tops out under 20,000 sockets here) spoken to over JSON lines, and the process
 * figures the benches print. Used by bench/reconnect-storm.ts and bench/fleet-commands.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import mqtt, { type MqttClient } from "mqtt";
import { reconnectDelayMs } from "../agent/mqtt/link.ts";
import { machineTopics } from "../protocol/topics.ts";
import { childLines } from "./child-lines.ts";

export const benchRoot = resolve(import.meta.dirname, "..");

export type Machine = { id: string; password: string };

/** `count` machines `<prefix>00000`, `<prefix>00001`, ..., each with a random 128-bit password. */
export function makeMachines(count: number, prefix = "S"): Machine[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}${String(i).padStart(5, "0")}`,
    password: randomBytes(16).toString("hex"),
  }));
}

// ---------------------------------------------------------------------------------------------------------------
// In a child process: the machines of its share.
// ---------------------------------------------------------------------------------------------------------------

/** What the machines of this process went through, reported to the parent. */
export const machineTally = {
  retries: 0,
  failures: new Map<string, number>(),
  /** Connections lost after their CONNACK (keepalive, takeover): each is made again, as the agent does. */
  lost: 0,
  stopping: false,
};

/**
 * Connects like an agent (TCP_NODELAY, will on its availability, its command filter, a retained `online`): on
 * failure, waits a full-jitter backoff and tries again. `onConnected` sees each connection before its subscription,
 * so it can listen for commands. Resolves with Date.now() at the CONNACK.
 */
export async function connectUntilAccepted(
  url: string,
  rootTopic: string,
  machine: Machine,
  keep: MqttClient[],
  onConnected: (client: MqttClient) => void = () => undefined,
): Promise<number> {
  const topics = machineTopics(rootTopic, machine.id);
  for (let attempt = 0; ; attempt++) {
    let connected: { client: MqttClient; onClose: () => void } | undefined;
    try {
      const client = await mqtt.connectAsync(url, {
        protocolVersion: 4,
        clientId: machine.id,
        username: machine.id,
        password: machine.password,
        reconnectPeriod: 0,
        connectTimeout: 30_000,
        keepalive: 60,
        clean: true,
        will: { topic: topics.availability, payload: Buffer.from(""), qos: 1, retain: true },
      });
      const at = Date.now();
      // As the agent's link: QoS 1 exchanges otherwise wait for delayed ACKs.
      (client.stream as Partial<Socket>).setNoDelay?.(true);
      keep.push(client);
      const onClose = () => {
        if (machineTally.stopping) return;
        machineTally.lost++;
        if (process.env.BENCH_DEBUG)
          console.error(`${machine.id}: connection lost after its CONNACK (${machineTally.lost} so far)`);
        void connectUntilAccepted(url, rootTopic, machine, keep, onConnected);
      };
      client.once("close", onClose);
      connected = { client, onClose };
      onConnected(client);
      await client.subscribeAsync(topics.commandFilter, { qos: 1 });
      const availability = { state: "online", bootId: randomUUID(), bootSeq: 1, ts: Date.now() };
      await client.publishAsync(topics.availability, JSON.stringify(availability), { qos: 1, retain: true });
      machineTally.retries += attempt;
      return at;
    } catch (error) {
      // Lost before its subscription or announcement: this loop tries again, not also the close handler, else two
      // clients with the machine's id would take each other's session over in turn.
      if (connected) {
        connected.client.off("close", connected.onClose);
        connected.client.end(true);
      }
      const message = (error as Error).message;
      machineTally.failures.set(message, (machineTally.failures.get(message) ?? 0) + 1);
      await new Promise((wake) => setTimeout(wake, reconnectDelayMs(attempt, 1_000, 30_000, Math.random)));
    }
  }
}

/** Ends every client of this process without their wills' reconnects. */
export async function stopMachines(clients: MqttClient[]): Promise<{ stopped: true }> {
  machineTally.stopping = true;
  await Promise.all(clients.map((client) => client.endAsync(true).catch(() => undefined)));
  return { stopped: true };
}

/**
 * A child's side of the JSON lines: says `{ready}`, then answers each order (one line in) with what `handle` resolves
 * to (one line out), in order; exits after answering `{kind: "stop"}`, and when the parent is gone (stdin closed).
 */
export async function serveOrders<Order extends { kind: string }>(
  handle: (order: Order) => Promise<object>,
): Promise<void> {
  const send = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);
  send({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    const order = JSON.parse(line) as Order;
    send(await handle(order));
    if (order.kind === "stop") process.exit(0);
  }
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------------------------
// In the parent.
// ---------------------------------------------------------------------------------------------------------------

export interface BenchChild {
  proc: ChildProcess;
  /** Writes one order and resolves with its answer. */
  ask(order: object): Promise<Record<string, unknown>>;
  /** The next line, for the first `{ready}`. */
  next: () => Promise<Record<string, unknown>>;
}

/** `node [nodeArgs] --import tsx <script> <args>` in the repository, spoken to over JSON lines. */
export function spawnBenchChild(script: string, args: string[], nodeArgs: string[] = []): BenchChild {
  const proc = spawn(process.execPath, [...nodeArgs, "--import", "tsx", script, ...args], {
    cwd: benchRoot,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const next = childLines(proc);
  return {
    proc,
    next,
    ask: (order) => {
      proc.stdin?.write(`${JSON.stringify(order)}\n`);
      return next();
    },
  };
}

/** Child processes (`<script> --child`) holding a fleet's machines between them. */
export class Fleet {
  readonly #children: BenchChild[];

  /** Resolves once every process has loaded, so that their start-up is not counted in what is measured. */
  ready(): Promise<unknown> {
    return Promise.all(this.#children.map(({ next }) => next()));
  }

  constructor(script: string, processes: number) {
    this.#children = Array.from({ length: processes }, () => spawnBenchChild(script, ["--child"]));
  }

  get pids(): (number | undefined)[] {
    return this.#children.map(({ proc }) => proc.pid);
  }

  /** Splits `machines` over the processes, sends each its share with `extra`, and gathers the answers. */
  order(kind: string, machines: Machine[], extra: object = {}): Promise<Record<string, unknown>[]> {
    const count = this.#children.length;
    return Promise.all(
      this.#children.map(({ ask }, index) =>
        ask({ kind, ...extra, machines: machines.filter((_, i) => i % count === index) }),
      ),
    );
  }

  /** The same order, without machines, to every process. */
  tell(kind: string): Promise<Record<string, unknown>[]> {
    return Promise.all(this.#children.map(({ ask }) => ask({ kind })));
  }

  async stop(): Promise<void> {
    await this.tell("stop");
  }

  /** When something failed: a process may still be busy with an order and never read `stop`. */
  kill(): void {
    for (const { proc } of this.#children) proc.kill("SIGKILL");
  }
}

export async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((wake) => setTimeout(wake, 20));
  }
}

export function rssOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) * 1024;
}

/** User + system CPU seconds a process has used so far (clock ticks of 1/100 s). */
export function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  // The command name (2nd field) may hold spaces: count the fields after its closing parenthesis.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

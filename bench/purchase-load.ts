/**
 * The load generator's side of bench/purchase-cost.ts: one purchase from outside (createPurchase, the customer's
 * confirmation at the fake SEQR, the notification, the machine's unlock, SEQR's commit), and runs of them closed loop
 * (a fixed number of callers, each starting its next purchase when the last ended) or open loop (a precomputed
 * schedule at a fixed rate; latency counted from each purchase's scheduled time, so queueing shows).
 *
 * Times are process.hrtime (CLOCK_MONOTONIC, shared by every process of the machine): t0 when the notification is
 * sent, t1 when the machine received its unlock, t2 when the fake SEQR received commitReservation.
 */
import { Agent, request } from "node:http";
import type { Machine } from "./fleet-sim.ts";
import type { PurchaseMachines } from "./purchase-machines.ts";

const agent = new Agent({ keepAlive: true, maxSockets: 512 });

/**
 * One HTTP exchange with a JSON (or empty) answer, over keep-alive connections. A request sent on a kept-alive socket
 * the server was closing at that moment (its keep-alive timeout) fails with ECONNRESET before the server read it: it
 * is sent once more on a fresh socket, as Node's documentation of `request.reusedSocket` advises.
 */
export async function httpJson(url: string, method: "GET" | "POST", body?: object): Promise<Record<string, unknown>> {
  try {
    return await httpJsonOnce(url, method, body);
  } catch (error) {
    if ((error as { code?: string; reusedSocket?: boolean }).reusedSocket !== true) throw error;
    return httpJsonOnce(url, method, body);
  }
}

function httpJsonOnce(url: string, method: "GET" | "POST", body?: object): Promise<Record<string, unknown>> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const call = request(
      url,
      {
        method,
        agent,
        headers:
          payload === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (response.statusCode !== 200) return reject(new Error(`${method} ${url}: ${response.statusCode} ${text}`));
          resolve(text === "" ? {} : (JSON.parse(text) as Record<string, unknown>));
        });
      },
    );
    call.on("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "ECONNRESET" && call.reusedSocket ? Object.assign(error, { reusedSocket: true }) : error),
    );
    call.end(payload);
  });
}

/** Where a purchase is made: the bridge or the floor. */
export interface Target {
  createPurchaseUrl: string;
}

export interface PurchaseTimes {
  /** Notification sent -> unlock at the machine, ms. */
  notifyToUnlock: number;
  /** createPurchase sent (or scheduled, open loop) -> commitReservation at SEQR, ms. */
  whole: number;
}

export class PurchaseDriver {
  readonly #seqrUrl: string;
  readonly #machines: PurchaseMachines;

  constructor(seqrUrl: string, machines: PurchaseMachines) {
    this.#seqrUrl = seqrUrl;
    this.#machines = machines;
  }

  /** One purchase on `machineId`; undefined when createPurchase answered without an invoice. */
  async purchase(
    target: Target,
    machineId: string,
    startedAt = process.hrtime.bigint(),
  ): Promise<PurchaseTimes | undefined> {
    const unlocked = this.#machines.unlockReceived(machineId);
    const created = await httpJson(target.createPurchaseUrl, "POST", {
      token: machineId,
      amount: 20,
      currency: "EUR",
      msisdn: "46700000001",
    });
    const reference = created.invoiceReferenceId as string | undefined;
    if (!reference) {
      this.#machines.forget(machineId);
      if (process.env.BENCH_DEBUG) console.error(`createPurchase ${machineId}: ${JSON.stringify(created)}`);
      return undefined;
    }
    const { notificationUrl } = await httpJson(`${this.#seqrUrl}/control/confirm/${reference}`, "POST");
    const committed = httpJson(`${this.#seqrUrl}/control/committed/${reference}`, "GET");
    const t0 = process.hrtime.bigint();
    await httpJson(notificationUrl as string, "POST");
    const t1 = await unlocked;
    const t2 = BigInt((await committed).committedAt as string);
    return { notifyToUnlock: Number(t1 - t0) / 1e6, whole: Number(t2 - startedAt) / 1e6 };
  }
}

/**
 * Machines handed out first in, first out: a machine is used again only after the others, so its last purchase has
 * long closed at the bridge (the commit reaches SEQR a moment before the bridge stores the purchase closed).
 */
export class MachinePool {
  readonly #free: Machine[];
  readonly #waiting: ((machine: Machine) => void)[] = [];

  constructor(machines: Machine[]) {
    this.#free = [...machines];
  }

  take(): Promise<Machine> {
    const machine = this.#free.shift();
    return machine ? Promise.resolve(machine) : new Promise((resolve) => this.#waiting.push(resolve));
  }

  give(machine: Machine): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(machine);
    else this.#free.push(machine);
  }
}

export interface RunResult {
  times: PurchaseTimes[];
  refused: number;
  seconds: number;
}

async function onPooledMachine(
  driver: PurchaseDriver,
  target: Target,
  pool: MachinePool,
  result: RunResult,
  startedAt?: bigint,
): Promise<void> {
  const machine = await pool.take();
  try {
    const times = await driver.purchase(target, machine.id, startedAt);
    if (times) result.times.push(times);
    else result.refused++;
  } finally {
    pool.give(machine);
  }
}

/** `purchases` purchases by `concurrency` callers, each starting its next when the last has been committed. */
export async function closedLoop(
  driver: PurchaseDriver,
  target: Target,
  pool: MachinePool,
  purchases: number,
  concurrency: number,
): Promise<RunResult> {
  const result: RunResult = { times: [], refused: 0, seconds: 0 };
  let started = 0;
  const from = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < purchases) {
        started++;
        await onPooledMachine(driver, target, pool, result);
      }
    }),
  );
  result.seconds = Number(process.hrtime.bigint() - from) / 1e9;
  return result;
}

/** `purchases` purchases started at `rate` per second on a schedule computed beforehand. */
export async function openLoop(
  driver: PurchaseDriver,
  target: Target,
  pool: MachinePool,
  purchases: number,
  rate: number,
): Promise<RunResult> {
  const result: RunResult = { times: [], refused: 0, seconds: 0 };
  const from = process.hrtime.bigint() + 10_000_000n;
  const intervalNs = BigInt(Math.round(1e9 / rate));
  const schedule = Array.from({ length: purchases }, (_, i) => from + BigInt(i) * intervalNs);
  const inFlight: Promise<void>[] = [];
  for (const at of schedule) {
    const wait = Number(at - process.hrtime.bigint()) / 1e6;
    if (wait > 1) await new Promise((wake) => setTimeout(wake, wait));
    inFlight.push(onPooledMachine(driver, target, pool, result, at));
  }
  await Promise.all(inFlight);
  result.seconds = Number(process.hrtime.bigint() - from) / 1e9;
  return result;
}

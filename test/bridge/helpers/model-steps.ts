import fc from "fast-check";
import { registryPrices } from "./model-bridge.ts";
import {
  checkQuiescent,
  checkStep,
  expectCancelAfterNotification,
  expectUnlockResentOnReconnect,
  heal,
} from "./model-checks.ts";
import { type HeldOutcome, type SeqrFault, seqrOperations } from "./model-seqr.ts";
import { ModelWorld } from "./model-world.ts";

/**
 * The steps of the model-based purchase test (fast-check commands) and the runner of one run. Each step acts on the
 * world (test/bridge/helpers/model-*.ts), lets the bridge react, then checks the money rules (model-checks.ts).
 * Environment: MODEL_RUNS (runs), MODEL_SEED and MODEL_PATH (reproduce a reported failure), MODEL_SHRINK=1 (shrink a
 * counterexample), MODEL_STATS=1 (print how deep the runs got), MODEL_SKIP (by hand: rules to look past).
 */

const numRuns = Number(process.env.MODEL_RUNS ?? 600);
const seed = process.env.MODEL_SEED === undefined ? undefined : Number(process.env.MODEL_SEED);
const path = process.env.MODEL_PATH;
/** By hand only: MODEL_SKIP=rule,... looks past rules, to see what else fails while one defect is reverted or open. */
const skipFromEnv = new Set((process.env.MODEL_SKIP ?? "").split(",").filter((rule) => rule !== ""));

type Command = fc.AsyncCommand<object, ModelWorld>;

/** One step: act on the world, let the bridge react, then check the money rules. */
class Step implements Command {
  readonly label: string;
  readonly #act: (world: ModelWorld) => Promise<void> | void;

  constructor(label: string, act: (world: ModelWorld) => Promise<void> | void) {
    this.label = label;
    this.#act = act;
  }

  check(): boolean {
    return true;
  }

  async run(_model: object, world: ModelWorld): Promise<void> {
    world.trace.push(`t+${world.now - world.bridge.clock.start}: ${this.label}`);
    await this.#act(world);
    await world.quiesce();
    await world.runDue();
    await checkStep(world);
  }

  toString(): string {
    return this.label;
  }
}

const pick = fc.nat(3);

const createPurchase = fc
  .constantFrom(150, 300, 500, 2000)
  .map((amount) => new Step(`createPurchase(${amount})`, (world) => world.createPurchase(amount)));

async function notify(world: ModelWorld, reference: string): Promise<void> {
  const purchase = await world.purchaseOf(reference);
  if (!purchase) return;
  world.due.push(expectCancelAfterNotification(world, reference, purchase, world.now));
  world.track(world.bridge.app.orchestrator.notified(purchase.notifySecret));
}

const notification = pick.map(
  (index) =>
    new Step(`notify(#${index})`, async (world) => {
      const reference = world.reference(index);
      if (reference) await notify(world, reference);
    }),
);

const seqrStatus = fc
  .tuple(
    pick,
    fc.constantFrom("RESERVED", "RESERVED", "RESERVED", "CANCELED", "CANCELED", "EXPIRED", "PAID"),
    fc.boolean(),
  )
  .map(
    ([index, status, notifies]) =>
      new Step(`seqr ${status}(#${index})${notifies ? " + notify" : ""}`, async (world) => {
        const reference = world.reference(index);
        if (!reference) return;
        if (!world.bridge.seqr.setStatus(reference, status as "RESERVED", "customer")) return;
        if (notifies) await notify(world, reference);
      }),
  );

const seqrFault = fc
  .tuple(
    fc.constantFrom(...seqrOperations),
    fc.constantFrom<SeqrFault>("transport-before", "transport-after", "timeout-before", "timeout-after", "hold"),
  )
  .map(
    ([operation, fault]) => new Step(`seqr fault ${operation} ${fault}`, (w) => w.bridge.seqr.inject(operation, fault)),
  );

const seqrRelease = fc.tuple(pick, fc.constantFrom<HeldOutcome>("success", "success", "lost", "dropped")).map(
  ([index, outcome]) =>
    new Step(`seqr answers held call #${index}: ${outcome}`, (world) => {
      const held = world.bridge.seqr.held;
      if (held.length > 0) world.bridge.seqr.release(index % held.length, outcome);
    }),
);

const deliverCommand = fc.tuple(pick, fc.boolean()).map(
  ([index, twice]) =>
    new Step(`machine gets command #${index}${twice ? " (and again later)" : ""}`, (world) => {
      const { inbox } = world.bridge.fleet;
      if (inbox.length > 0) world.bridge.fleet.deliverCommand(index % inbox.length, twice);
    }),
);

function deliverEventTo(world: ModelWorld, index: number, lostAck: boolean): void {
  const { journal } = world.bridge.fleet.agent;
  if (journal.length === 0) return;
  const delivery = world.bridge.fleet.deliverEvent(index % journal.length, lostAck);
  if (delivery !== undefined) world.track(delivery);
}

const deliverEvent = fc
  .tuple(fc.nat(5), fc.boolean())
  .map(
    ([index, lostAck]) =>
      new Step(`bridge gets event #${index}${lostAck ? " (ack lost)" : ""}`, (world) =>
        deliverEventTo(world, index, lostAck),
      ),
  );

/** Everything in flight arrives in order (a healthy link for a moment). */
const deliverAll = fc.constant(
  new Step("all messages arrive", async (world) => {
    const { fleet } = world.bridge;
    while (fleet.inbox.length > 0 && fleet.agentOnline) fleet.deliverCommand(0, false);
    for (let i = 0; i < 20 && fleet.agent.journal.length > 0; i++) {
      const before = fleet.agent.journal.length;
      deliverEventTo(world, 0, false);
      await world.quiesce();
      if (fleet.agent.journal.length >= before) break;
    }
  }),
);

const customerVend = fc
  .tuple(fc.constantFrom("A1", "A2", "Z9"), fc.constantFrom("registry", "registry", "cheaper", "dearer", "huge"))
  .map(([selection, price]) => {
    const registry = registryPrices[selection] ?? 120;
    const priceMinor = { registry, cheaper: registry - 50, dearer: registry + 100, huge: 2_000 }[price] ?? registry;
    return new Step(`customer vends ${selection} reported at ${priceMinor}`, (world) => {
      world.bridge.fleet.agent.vend(selection, priceMinor, world.now);
    });
  });

const customerOther = fc.constantFrom(
  new Step("vend fails", (world) => {
    world.bridge.fleet.agent.vendFailed("A1", 150, world.now);
  }),
  new Step("customer done", (world) => {
    world.bridge.fleet.agent.endSession("customer-done", world.now);
  }),
);

const machine = fc.constantFrom(
  new Step("machine fault (out of service)", (world) => world.bridge.fleet.agent.fault(world.now)),
  new Step("machine back in service", (world) => world.bridge.fleet.agent.inService(world.now)),
  new Step("machine offline", (world) => world.bridge.fleet.setAgentOnline(false)),
  new Step("machine online", (world) => world.bridge.fleet.setAgentOnline(true)),
  new Step("bridge broker link down", (world) => world.bridge.fleet.setLink(false)),
  new Step("broker restarts (bridge and machine links down)", (world) => world.bridge.fleet.restartBroker()),
  new Step("bridge broker link up", async (world) => {
    if (world.bridge.fleet.linkUp) return;
    world.afterQuiet.push(await expectUnlockResentOnReconnect(world));
    world.bridge.fleet.setLink(true);
  }),
);

const advance = fc
  .constantFrom<"next" | number>("next", "next", 1_000, 5_000, 11_000, 31_000, 61_000, 121_000, 301_000)
  .map(
    (by) =>
      new Step(by === "next" ? "time to the next timer" : `time +${by / 1_000}s`, async (world) => {
        const { bridge } = world;
        if (by !== "next") return bridge.advance(by);
        const next = bridge.clock.nextDueAt();
        await bridge.advanceTo(next === undefined ? bridge.clock.now() + 1_000 : next);
      }),
  );

const crash = fc.constant(new Step("bridge crashes and restarts", (world) => world.crash()));

/**
 * What a healthy fleet does next (one of the applicable actions, chosen by `choice`): a machine gets its command, the
 * bridge gets an event, the customer vends or is done, confirms in the app, or a new customer scans. Mixed with the
 * arbitrary steps, it takes runs deep into the purchase (reserved, unlocked, vended, committed) where faults matter.
 */
const progress = fc.nat(7).map(
  (choice) =>
    new Step(`progress(${choice})`, async (world) => {
      const { fleet, seqr } = world.bridge;
      const actions: (() => Promise<void> | void)[] = [];
      if (fleet.inbox.length > 0 && fleet.agentOnline) actions.push(() => void fleet.deliverCommand(0, false));
      if (fleet.agent.journal.length > 0 && fleet.agentOnline && fleet.linkUp) {
        actions.push(() => deliverEventTo(world, 0, false));
      }
      const session = fleet.agent.session;
      if (session) {
        actions.push(() => void fleet.agent.vend("A1", 150, world.now));
        if (session.vendedCount > 0) actions.push(() => void fleet.agent.endSession("customer-done", world.now));
      }
      const newest = world.reference(0);
      if (newest !== undefined && seqr.invoices.get(newest)?.status === "ISSUED") {
        actions.push(async () => {
          seqr.setStatus(newest, "RESERVED", "customer");
          await notify(world, newest);
        });
      }
      if (actions.length === 0) actions.push(() => world.createPurchase(500));
      await actions[choice % actions.length]?.();
    }),
);

/** Weighted so that runs get far (reserved, unlocked, vended, committed) while faults still hit every stage. */
const step: fc.Arbitrary<Command> = fc.oneof(
  { weight: 12, arbitrary: progress },
  { weight: 3, arbitrary: createPurchase },
  { weight: 2, arbitrary: notification },
  { weight: 3, arbitrary: seqrStatus },
  { weight: 2, arbitrary: seqrFault },
  { weight: 1, arbitrary: seqrRelease },
  { weight: 3, arbitrary: deliverCommand },
  { weight: 3, arbitrary: deliverEvent },
  { weight: 6, arbitrary: deliverAll },
  { weight: 3, arbitrary: customerVend },
  { weight: 2, arbitrary: customerOther },
  { weight: 2, arbitrary: machine },
  { weight: 4, arbitrary: advance },
  { weight: 1, arbitrary: crash },
);

/** The command sequences of a run (a replay path from a failure report reproduces one exactly). */
export function modelCommands(): fc.Arbitrary<Iterable<Command>> {
  return fc.commands([step], {
    maxCommands: 50,
    size: "medium",
    ...(path !== undefined ? { replayPath: path } : {}),
  });
}

/** fc.assert options: runs, and seed and path from the environment to reproduce a failure. */
export function modelRunOptions(): fc.Parameters<[Iterable<Command>]> {
  return {
    numRuns,
    ...(seed !== undefined ? { seed } : {}),
    ...(path !== undefined ? { path } : {}),
    // Shrinking re-runs the model many times: by hand (MODEL_SHRINK=1), not in CI.
    endOnFailure: process.env.MODEL_SHRINK === undefined,
  };
}

/** Prints what the runs reached (MODEL_STATS=1): a model that never reaches a commit proves little. */
export function reportReached(): void {
  if (process.env.MODEL_STATS) console.log(Object.fromEntries(reached));
}

const reached = new Map<string, number>();
function count(what: string, yes: boolean): void {
  if (yes) reached.set(what, (reached.get(what) ?? 0) + 1);
}

function tally(world: ModelWorld): void {
  const { seqr, fleet } = world.bridge;
  const invoices = [...seqr.invoices.values()];
  count("runs", true);
  count(
    "reserved",
    invoices.some((invoice) => invoice.history.some((entry) => entry.startsWith("RESERVED"))),
  );
  count("unlock accepted", fleet.agent.accepted.length > 0);
  count("vended", fleet.agent.physicalVends.length > 0);
  count(
    "committed",
    invoices.some((invoice) => invoice.committedMinor !== undefined),
  );
  count(
    "expired at SEQR",
    invoices.some((invoice) => invoice.status === "EXPIRED"),
  );
  count("restarted", world.bridge.restarts > 0);
  count(
    "command-rejected",
    fleet.delivered.some((event) => event.name === "command-rejected"),
  );
}

/**
 * One run: the steps, then heal everything and let every timer run, then the rules that must hold at quiescence.
 * `skipRules` are not checked: only for exploring by hand what else fails while one defect is still open.
 */
export async function runModel(steps: Iterable<Command>, skipRules: ReadonlySet<string> = skipFromEnv): Promise<void> {
  const world = await ModelWorld.start(skipRules);
  try {
    await fc.asyncModelRun(() => ({ model: {}, real: world }), steps);
    world.trace.push(`t+${world.now - world.bridge.clock.start}: heal and run every timer`);
    await heal(world);
    await checkQuiescent(world);
    tally(world);
  } catch (error) {
    if (error instanceof Error) error.message += `\ntrace:\n  ${world.trace.join("\n  ")}`;
    throw error;
  } finally {
    await world.bridge.close();
  }
}

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "vitest";
import type { JournalState } from "../../../agent/journal/journal-state.ts";
import type { FleetEvent } from "../../../backend-bridge/fleet/fleet-link.ts";
import { readPhysicalLedger } from "../../../hardware/simulators/physical-ledger.ts";
import { journalOnDisk } from "../../helpers/agent-journal.ts";
import { type BridgeSide, uniqueMachineId } from "./mqtt-harness.ts";
import { testCatalog } from "./session-harness.ts";

/**
 * Crash tests: the agent runs as a child process, is killed with SIGKILL at a journal write point (or from outside,
 * mid-vend), restarted, and the invariants are checked against the physical truth: no product vended twice, every
 * `vended` event a product that really dropped, every vend in flight at a crash reported `vend-unknown`, every vend
 * reported to the bridge's store exactly once.
 *
 * `spawnMain` runs the production composition, agent/main.ts, with the simulator driver writing a physical ledger
 * (`hardware.ledgerFile`, one synced line per product that drops) and the kiosk page as the customer's touch screen;
 * the crash hook comes from a test-only preload (crash-preload.ts), never from main.ts itself. `spawnScript` runs a
 * test composition (e.g. test/systemd/fixtures: an IPC-driven fake mechanism that fsyncs a line per vend() call).
 */

export const commandKey = "cd".repeat(32);
const repoRoot = join(import.meta.dirname, "..", "..", "..");
const mainScript = join(repoRoot, "agent", "main.ts");
const crashPreload = pathToFileURL(join(import.meta.dirname, "crash-preload.ts")).href;
/** Small enough that the journal compacts several times within one purchase (write points reached mid-session). */
export const crashCompactAfterBytes = 2_048;

export interface ChildAgent {
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  started: Promise<boolean>;
  output: string[];
  /** The customer chooses a product; resolves true once the machine took the choice. */
  select(selection: string): Promise<boolean>;
  /** The customer ends the session at the machine; resolves true once the machine took it. */
  closeAtMachine(): Promise<boolean>;
}

export class CrashScenario {
  readonly machineId = uniqueMachineId();
  readonly dir = mkdtempSync(join(tmpdir(), "vend-crash-"));
  readonly ledger = join(this.dir, "ledger.jsonl");
  /** The simulator's physical ledger (`hardware.ledgerFile`) when the agent runs as main.ts. */
  readonly drops = join(this.dir, "drops.jsonl");
  readonly configFile = join(this.dir, "agent.yaml");
  readonly dataDir = join(this.dir, "data");
  readonly #config: Record<string, unknown>;
  readonly children: ChildAgent[] = [];

  readonly brokerUrl: string;
  readonly rootTopic: string;
  readonly bridge: BridgeSide;

  constructor(brokerUrl: string, rootTopic: string, bridge: BridgeSide, password: string) {
    this.brokerUrl = brokerUrl;
    this.rootTopic = rootTopic;
    this.bridge = bridge;
    const config = {
      machine: { id: this.machineId, merchantId: "acme" },
      mqtt: { url: brokerUrl, rootTopic, password, reconnectMinMs: 100, reconnectMaxMs: 1_000 },
      commandKey,
      catalog: testCatalog,
      session: { mode: "multi-vend" },
      hardware: { driver: "simulator" },
      display: { renderer: "none" },
      dataDir: this.dataDir,
      log: { level: "info" },
    };
    this.#config = config;
    writeFileSync(this.configFile, JSON.stringify(config));
  }

  /**
   * Runs agent/main.ts (`vend-agent run`) with the simulated spiral board, the kiosk page on a free port and a small
   * compaction threshold; `crashAt` (`<write point>[:n]`) arms the crash hook through the test preload.
   */
  spawnMain(options: { crashAt?: string | undefined; vendDurationMs?: number } = {}): ChildAgent {
    const configFile = join(this.dir, `main-${this.children.length}.json`);
    const config = {
      ...this.#config,
      hardware: {
        driver: "simulator",
        simulate: "spiral-board",
        vendDurationMs: options.vendDurationMs ?? 30,
        ledgerFile: this.drops,
      },
      display: { renderer: "kiosk", kioskHost: "127.0.0.1", kioskPort: 0 },
      journal: { compactAfterBytes: crashCompactAfterBytes },
    };
    writeFileSync(configFile, JSON.stringify(config));
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) {
      // The child's configuration is the file alone: no VEND_AGENT_* override leaks in from the test's environment.
      if (value !== undefined && !name.startsWith("VEND_AGENT_")) env[name] = value;
    }
    if (options.crashAt) env.VEND_AGENT_CRASH_AT = options.crashAt;
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--import", crashPreload, mainScript, "run", "--config", configFile],
      { stdio: ["ignore", "pipe", "pipe"], env, cwd: repoRoot },
    );
    const output: string[] = [];
    let kioskUrl: string | undefined;
    let markStarted: (started: boolean) => void = () => undefined;
    const started = new Promise<boolean>((resolve) => {
      markStarted = resolve;
    });
    const watch = (chunk: Buffer) => {
      const text = chunk.toString();
      output.push(text);
      kioskUrl ??= /"url":"(http:\/\/127\.0\.0\.1:\d+\/)"/.exec(output.join(""))?.[1];
      if (kioskUrl && output.join("").includes('"msg":"vend mechanism up"')) markStarted(true);
    };
    child.stdout?.on("data", watch);
    child.stderr?.on("data", watch);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    void exited.then(() => markStarted(false));
    const alive = () => child.exitCode === null && child.signalCode === null;
    /** Taps the kiosk page until the screen takes the action (409 while it shows something else). */
    const tap = async (path: "select" | "done", body: unknown): Promise<boolean> => {
      const deadline = Date.now() + 20_000;
      while (alive() && Date.now() < deadline) {
        if (kioskUrl) {
          const response = await fetch(new URL(path, kioskUrl), {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          }).catch(() => undefined);
          if (response?.status === 202) return true;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return false;
    };
    const handle: ChildAgent = {
      process: child,
      exited,
      started,
      output,
      select: (selection) => tap("select", { selection }),
      closeAtMachine: () => tap("done", {}),
    };
    this.children.push(handle);
    return handle;
  }

  /** The journal as the last process left it on disk (what the next start recovers). */
  journalOnDisk(): JournalState {
    return journalOnDisk(this.dataDir);
  }

  /** Products that physically dropped (the simulator's ledger), across all processes. */
  physicalDrops(): { selection: string }[] {
    return readPhysicalLedger(this.drops);
  }

  /**
   * Runs `script` (a child that takes the config file, reports `{started}` over IPC and takes `{select}`/`{close}`)
   * with this scenario's config and ledger. The scenario's cleanup kills and awaits whatever is still running.
   */
  spawnScript(script: string, env: Record<string, string> = {}): ChildAgent {
    const child = spawn(process.execPath, ["--import", "tsx", script, this.configFile], {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: { ...process.env, VEND_AGENT_LEDGER: this.ledger, ...env },
    });
    const output: string[] = [];
    child.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    const started = new Promise<boolean>((resolve) => {
      child.on("message", (message: { started?: boolean }) => {
        if (message.started) resolve(true);
      });
      void exited.then(() => resolve(false));
    });
    const handle: ChildAgent = {
      process: child,
      exited,
      started,
      output,
      select: async (selection) => {
        if (!child.connected) return false;
        child.send({ select: selection });
        return true;
      },
      closeAtMachine: async () => {
        if (!child.connected) return false;
        child.send({ close: true });
        return true;
      },
    };
    this.children.push(handle);
    return handle;
  }

  /** Physical vends across all processes (the fake mechanism fsyncs one line per vend before it "turns"). */
  physicalVends(): { selection: string; priceMinor: number; pid: number }[] {
    if (!existsSync(this.ledger)) return [];
    return readFileSync(this.ledger, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { selection: string; priceMinor: number; pid: number });
  }

  events(): FleetEvent[] {
    return [...this.bridge.store.values()].filter((event) => event.machineId === this.machineId);
  }

  named<N extends FleetEvent["name"]>(name: N): FleetEvent<N>[] {
    return this.events().filter((event): event is FleetEvent<N> => event.name === name);
  }

  async cleanup(): Promise<void> {
    for (const child of this.children) {
      if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGKILL");
      await child.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * The invariants after any crash. Physical truth is the simulator's ledger of drops when the agent ran as main.ts,
   * else the fake mechanism's ledger of vend() calls. Each selection the test made once went out at most once; every
   * `vended` event is a product that physically went out, and every product that went out is reported `vended` or
   * `vend-unknown`; every vend in flight at a crash (`inFlightAtCrash`, read from the journal the crashed process left)
   * is reported `vend-unknown`, never `vended`; every vend-started has exactly one outcome; vended events never repeat
   * a vendId; every session that ended ended once, with counts matching its vended events; the store holds each seq
   * of this machine's events once, without a gap.
   */
  checkInvariants(inFlightAtCrash: ReadonlySet<string> = new Set()): void {
    const physical: { selection: string }[] = existsSync(this.drops) ? this.physicalDrops() : this.physicalVends();
    const perSelection = new Map<string, number>();
    for (const vend of physical) perSelection.set(vend.selection, (perSelection.get(vend.selection) ?? 0) + 1);
    for (const [selection, count] of perSelection)
      expect(count, `selection ${selection} went out ${count} times`).toBe(1);

    const started = this.named("vend-started");
    const vended = this.named("vended");
    const unknown = this.named("vend-unknown");
    const outcomes = [...vended, ...this.named("vend-failed"), ...unknown];
    for (const start of started) {
      const matching = outcomes.filter((event) => event.payload.vendId === start.payload.vendId);
      expect(matching.length, `vend ${start.payload.vendId} has ${matching.length} outcomes`).toBe(1);
    }
    const vendedIds = vended.map((event) => event.payload.vendId);
    expect(new Set(vendedIds).size).toBe(vendedIds.length);
    for (const selection of new Set([...perSelection.keys(), ...vended.map((event) => event.payload.selection)])) {
      const out = perSelection.get(selection) ?? 0;
      const billed = vended.filter((event) => event.payload.selection === selection).length;
      const flagged = unknown.filter((event) => event.payload.selection === selection).length;
      expect(billed, `${selection}: ${billed} vended events, ${out} physical vends`).toBeLessThanOrEqual(out);
      expect(out, `${selection}: ${out} physical vends, ${billed} vended + ${flagged} unknown`).toBeLessThanOrEqual(
        billed + flagged,
      );
    }
    for (const vendId of inFlightAtCrash) {
      const reported = outcomes.filter((event) => event.payload.vendId === vendId).map((event) => event.name);
      expect(reported, `vend ${vendId} was in flight at the crash`).toEqual(["vend-unknown"]);
    }
    const ended = this.named("session-ended");
    const sessions = new Set(ended.map((event) => event.payload.sessionId));
    expect(sessions.size).toBe(ended.length);
    for (const end of ended) {
      const ofSession = vended.filter((event) => event.payload.sessionId === end.payload.sessionId);
      expect(end.payload.vendedCount).toBe(ofSession.length);
      expect(end.payload.vendedTotalMinor).toBe(ofSession.reduce((sum, event) => sum + event.payload.priceMinor, 0));
    }
    // The journal numbers events 1, 2, 3...; a durable event lost, or a seq reused after a crash, shows here.
    const seqs = this.events()
      .map((event) => event.payload.seq)
      .sort((a, b) => a - b);
    expect(seqs, "event seqs in the store").toEqual(seqs.map((_, index) => index + 1));
  }
}

/** Resolves when the predicate holds, or false when the child died first (or time ran out). */
export async function waitFor(
  predicate: () => boolean,
  child: ChildAgent | undefined,
  timeoutMs = 8_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void child?.exited.then(() => {
    dead = true;
  });
  while (!predicate()) {
    if (dead || Date.now() > deadline) return predicate();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

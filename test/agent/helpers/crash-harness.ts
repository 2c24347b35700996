import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { FleetEvent } from "../../../backend-bridge/fleet/fleet-link.ts";
import { type BridgeSide, uniqueMachineId } from "./mqtt-harness.ts";
import { testCatalog } from "./session-harness.ts";

/**
 * Crash tests: the agent runs as a child process (test/agent/helpers/child-agent.ts: the real composition with the
 * crash hook from VEND_AGENT_CRASH_AT and a fake mechanism that fsyncs every physical vend to a ledger file), is
 * killed with SIGKILL at a journal write point (or from outside, mid-vend), restarted, and the invariants are
 * checked: no product vended twice, every vend reported to the bridge's store exactly once.
 */

export const commandKey = "cd".repeat(32);
const childScript = join(import.meta.dirname, "child-agent.ts");

export interface ChildAgent {
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  started: Promise<boolean>;
  output: string[];
  select(selection: string): void;
  closeAtMachine(): void;
}

export class CrashScenario {
  readonly machineId = uniqueMachineId();
  readonly dir = mkdtempSync(join(tmpdir(), "vend-crash-"));
  readonly ledger = join(this.dir, "ledger.jsonl");
  readonly configFile = join(this.dir, "agent.yaml");
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
      dataDir: join(this.dir, "data"),
      log: { level: "info" },
    };
    writeFileSync(this.configFile, JSON.stringify(config));
  }

  spawn(env: Record<string, string> = {}): ChildAgent {
    return this.spawnScript(childScript, { VEND_AGENT_VEND_MS: "30", ...env });
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
      select: (selection) => {
        if (child.connected) child.send({ select: selection });
      },
      closeAtMachine: () => {
        if (child.connected) child.send({ close: true });
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
   * The invariants after any crash: each selection the test made once was vended at most once; every vend-started
   * has exactly one outcome event in the store (vended, vend-failed or vend-unknown); vended events never repeat a
   * vendId; every session that ended ended once, with counts matching its vended events; each physical vend is
   * accounted for by a reported vend.
   */
  checkInvariants(): void {
    const physical = this.physicalVends();
    const perSelection = new Map<string, number>();
    for (const vend of physical) perSelection.set(vend.selection, (perSelection.get(vend.selection) ?? 0) + 1);
    for (const [selection, count] of perSelection)
      expect(count, `selection ${selection} vended ${count} times`).toBe(1);

    const started = this.named("vend-started");
    const outcomes = [...this.named("vended"), ...this.named("vend-failed"), ...this.named("vend-unknown")];
    for (const start of started) {
      const matching = outcomes.filter((event) => event.payload.vendId === start.payload.vendId);
      expect(matching.length, `vend ${start.payload.vendId} has ${matching.length} outcomes`).toBe(1);
    }
    const vendedIds = this.named("vended").map((event) => event.payload.vendId);
    expect(new Set(vendedIds).size).toBe(vendedIds.length);
    expect(outcomes.length).toBeGreaterThanOrEqual(physical.length);
    for (const vend of physical) {
      expect(
        started.some((start) => start.payload.selection === vend.selection),
        `physical vend of ${vend.selection} was reported`,
      ).toBe(true);
    }
    const ended = this.named("session-ended");
    const sessions = new Set(ended.map((event) => event.payload.sessionId));
    expect(sessions.size).toBe(ended.length);
    for (const end of ended) {
      const vended = this.named("vended").filter((event) => event.payload.sessionId === end.payload.sessionId);
      expect(end.payload.vendedCount).toBe(vended.length);
      expect(end.payload.vendedTotalMinor).toBe(vended.reduce((sum, event) => sum + event.payload.priceMinor, 0));
    }
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

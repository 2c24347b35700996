import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * The JSON lines a bench's child process writes on stdout, one at a time and in order: each call of the returned
 * function resolves with the next message (at once if it has already arrived).
 */
export function childLines(proc: ChildProcess): () => Promise<Record<string, unknown>> {
  const reader = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
  const queue: Record<string, unknown>[] = [];
  const waiters: ((value: Record<string, unknown>) => void)[] = [];
  reader.on("line", (line) => {
    const message = JSON.parse(line) as Record<string, unknown>;
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  return () =>
    new Promise((resolve) => {
      const next = queue.shift();
      if (next) resolve(next);
      else waiters.push(resolve);
    });
}

import type { Output } from "../../platform/terminal.ts";

/** An Output that keeps what a command printed, without colour (as with NO_COLOR). */
export function captureOutput(): Output & { stdout: string; stderr: string; jsonValues: unknown[] } {
  const captured = {
    stdout: "",
    stderr: "",
    jsonValues: [] as unknown[],
    color: false,
    line: (text = "") => {
      captured.stdout += `${text}\n`;
    },
    error: (text: string) => {
      captured.stderr += `${text}\n`;
    },
    ok: (text: string) => text,
    bad: (text: string) => text,
    dim: (text: string) => text,
    json: (value: unknown) => {
      captured.jsonValues.push(value);
      captured.stdout += `${JSON.stringify(value, null, 2)}\n`;
    },
  };
  return captured;
}

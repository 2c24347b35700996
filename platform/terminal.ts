import { styleText } from "node:util";

/**
 * Human output for the technician CLIs: colour only on a terminal and never with NO_COLOR (no-color.org).
 */
export interface Output {
  readonly color: boolean;
  line(text?: string): void;
  error(text: string): void;
  ok(text: string): string;
  bad(text: string): string;
  dim(text: string): string;
  json(value: unknown): void;
}

export function createOutput(
  stdout: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
  stderr: NodeJS.WritableStream = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): Output {
  const color = Boolean(stdout.isTTY) && env.NO_COLOR === undefined && env.TERM !== "dumb";
  const paint = (style: Parameters<typeof styleText>[0], text: string) => (color ? styleText(style, text) : text);
  return {
    color,
    line: (text = "") => stdout.write(`${text}\n`),
    error: (text) => stderr.write(`${text}\n`),
    ok: (text) => paint("green", text),
    bad: (text) => paint("red", text),
    dim: (text) => paint("dim", text),
    json: (value) => stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}

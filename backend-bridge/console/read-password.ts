import { createInterface } from "node:readline";

/**
 * The new operator's password, never from the command line (it would sit in the shell history and in `ps`): from a
 * pipe, its first line; on a terminal, typed at a prompt without echo.
 */
export async function readPasswordFromStdin(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    const reader = createInterface({ input, terminal: false });
    for await (const line of reader) {
      reader.close();
      return line;
    }
    return "";
  }
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = "";
      input.on("data", (chunk: Buffer) => {
        for (const character of chunk.toString("utf8")) {
          if (character === "\r" || character === "\n") return resolve(typed);
          if (character === "\u0003") return reject(new Error("interrupted"));
          if (character === "\u007f") typed = typed.slice(0, -1);
          else typed += character;
        }
      });
    });
  } finally {
    input.setRawMode(false);
    input.pause();
    input.removeAllListeners("data");
    process.stderr.write("\n");
  }
}

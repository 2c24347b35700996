/**
 * `vend-agent doctor | head -1`: once the reader has its line and goes, every further write to stdout fails with EPIPE,
 * and Node turns an unhandled stream error into a stack trace. Nobody is left to read the rest, so the CLI just ends
 * (exit 0, as the pipeline's reader already has what it asked for).
 */
export function endQuietlyOnBrokenPipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
}

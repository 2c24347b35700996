import {
  closeSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * Replaces `path` with `content` so that a reader (Mosquitto at SIGHUP) sees the old file or the new one, never half
 * of one, and the new one survives a power cut: a temp file beside it, fsync, rename over, fsync of the directory.
 *
 * The new file keeps the mode and owner of the one it replaces (an operator's `chown root:mosquitto`, `chmod 640`). A
 * first file is 0640 in the group of its directory: the guide makes that directory `root:mosquitto`, so Mosquitto, which
 * drops root for its own user, can read it, and nobody else can. Changing the owner needs root; without it, the file is
 * the writer's own, which is what a non-root Mosquitto run by the same user needs.
 */
export function writeFileAtomic(path: string, content: string): void {
  const directory = dirname(path);
  const previous = statOrUndefined(path);
  const mode = previous ? previous.mode & 0o777 : 0o640;
  const owner = previous ?? { uid: process.getuid?.() ?? -1, gid: statSync(directory).gid };
  const temp = join(directory, `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temp, "w", 0o600);
  try {
    writeSync(fd, content);
    try {
      fchownSync(fd, owner.uid, owner.gid);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EPERM") throw error;
    }
    fchmodSync(fd, mode);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  renameSync(temp, path);
  const dirFd = openSync(directory, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

function statOrUndefined(path: string): { mode: number; uid: number; gid: number } | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * The embedded store holds the machines' command keys (a key signs unlocks, so it cannot be hashed) and the purchases'
 * notification secrets: its file is 0600 and the directories the bridge creates for it 0700, whatever the umask of
 * whoever starts the bridge (a root shell's 022 made it 0644 before issue 18). A directory that already exists
 * (/var/lib, /tmp) keeps its mode: it is not ours to change.
 */
export function preparePrivateStoreFile(file: string): void {
  const created = makeDirectories(dirname(resolve(file)));
  for (const directory of created) chmodSync(directory, 0o700);
  if (!existsSync(file)) closeSync(openSync(file, "a", 0o600));
  // An existing store is tightened too: a file made 0644 by an earlier version must not stay readable by all.
  chmodSync(file, 0o600);
  // SQLite creates -wal and -shm with the main file's mode; earlier ones may be looser.
  for (const companion of [`${file}-wal`, `${file}-shm`]) if (existsSync(companion)) chmodSync(companion, 0o600);
}

/** mkdir -p; returns the directories it created, outermost first. */
function makeDirectories(directory: string): string[] {
  const missing: string[] = [];
  for (let current = directory; !existsSync(current); current = dirname(current)) {
    missing.unshift(current);
    if (dirname(current) === current) break;
  }
  if (missing.length > 0) mkdirSync(directory, { recursive: true, mode: 0o700 });
  return missing;
}

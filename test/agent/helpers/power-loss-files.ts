import { dirname } from "node:path";
import type { AppendFile, JournalFiles } from "../../../agent/journal/journal-files.ts";

/**
 * An in-memory file layer for the journal that can lose power. It keeps, for every file, the bytes written and the
 * bytes synced, and for every directory the names linked and the names made durable by an fsync of that directory.
 * `cutPower()` returns the disk as a machine would find it after a power cut: only synced bytes under durable names
 * (optionally with a torn piece of the unsynced tail of each file, as a disk that wrote part of a page would), and
 * this instance goes dead: its synchronous calls throw, its asynchronous ones never settle (the process is gone).
 *
 * `cutPowerBefore(n)` cuts the power just before the n-th mutating operation (1-based), so a test can crash at every
 * step of a run; `fault` injects errors such as EIO or ENOSPC into chosen operations.
 */

export type FileOperation =
  | "mkdir"
  | "writeSynced"
  | "truncate"
  | "rename"
  | "fsyncDirectory"
  | "openAppend"
  | "write"
  | "datasync";

interface Inode {
  data: Buffer;
  synced: Buffer;
}

export interface PowerLossOptions {
  /** Directories that exist (durably) from the start; "/" always does. */
  dirs?: readonly string[];
  /** Called before each mutating operation; an error returned is thrown (sync) or rejected (async) instead. */
  fault?: (operation: FileOperation, path: string) => NodeJS.ErrnoException | undefined;
}

export function errnoError(code: "EIO" | "ENOSPC" | "EACCES", operation: string, path: string): NodeJS.ErrnoException {
  const error = new Error(`${code}: simulated failure, ${operation} '${path}'`) as NodeJS.ErrnoException;
  error.code = code;
  error.syscall = operation;
  error.path = path;
  return error;
}

export class PowerLossFiles implements JournalFiles {
  /** Mutating operations performed so far. */
  operations = 0;
  /** A log of the mutating operations, for a test's failure message. */
  readonly trace: string[] = [];
  fault: PowerLossOptions["fault"];
  #cutBefore: { operation: number; tornBytes: number } | undefined;
  #afterCut: PowerLossFiles | undefined;
  #dead = false;
  #onCut: () => void = () => undefined;
  /** Resolves when the power is cut (armed or by `cutPower`). */
  readonly cutHappened = new Promise<void>((resolve) => {
    this.#onCut = resolve;
  });
  readonly #files = new Map<string, Inode>();
  readonly #dirs = new Set<string>(["/"]);
  /** Names made durable by a directory fsync: path -> inode (files) ... */
  readonly #durableFiles = new Map<string, Inode>();
  /** ... and directories. */
  readonly #durableDirs = new Set<string>(["/"]);

  constructor(options: PowerLossOptions = {}) {
    for (const dir of options.dirs ?? []) {
      for (let path = dir; path !== "/"; path = dirname(path)) {
        this.#dirs.add(path);
        this.#durableDirs.add(path);
      }
    }
    this.fault = options.fault;
  }

  /** Arms a power cut just before the n-th mutating operation; `afterCut` then holds the disk as found. */
  cutPowerBefore(operation: number, tornBytes = 0): void {
    this.#cutBefore = { operation, tornBytes };
  }

  /** The disk after the armed cut, once it happened. */
  get afterCut(): PowerLossFiles | undefined {
    return this.#afterCut;
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** What survives if the power goes now, without cutting it: every synced byte under a durable name. */
  durableImage(tornBytes = 0): PowerLossFiles {
    const image = new PowerLossFiles();
    image.#dirs.clear();
    image.#durableDirs.clear();
    const survives = (dir: string): boolean => dir === "/" || (this.#durableDirs.has(dir) && survives(dirname(dir)));
    for (const dir of this.#durableDirs) {
      if (!survives(dir)) continue;
      image.#dirs.add(dir);
      image.#durableDirs.add(dir);
    }
    for (const [path, inode] of this.#durableFiles) {
      if (!survives(dirname(path))) continue;
      let data = Buffer.from(inode.synced);
      // A torn write: part of what was appended after the last sync reached the disk anyway.
      if (
        tornBytes > 0 &&
        inode.data.length > inode.synced.length &&
        inode.data.subarray(0, data.length).equals(data)
      ) {
        data = Buffer.from(inode.data.subarray(0, Math.min(inode.data.length, data.length + tornBytes)));
      }
      const copy: Inode = { data, synced: Buffer.from(data) };
      image.#files.set(path, copy);
      image.#durableFiles.set(path, copy);
    }
    return image;
  }

  /** Cuts the power now: returns the disk as found, and this instance goes dead. */
  cutPower(tornBytes = 0): PowerLossFiles {
    const image = this.durableImage(tornBytes);
    this.#dead = true;
    this.#afterCut = image;
    this.trace.push("-- power cut --");
    this.#onCut();
    return image;
  }

  /** The content written to `path` so far, synced or not (undefined when there is no such file). */
  content(path: string): Buffer | undefined {
    const inode = this.#files.get(path);
    return inode ? Buffer.from(inode.data) : undefined;
  }

  /** Names of the files directly inside `dir`. */
  list(dir: string): string[] {
    return [...this.#files.keys()].filter((path) => dirname(path) === dir).map((path) => path.slice(dir.length + 1));
  }

  /** Returns false when the power is (now) off; throws an injected fault. */
  #step(operation: FileOperation, path: string): boolean {
    if (this.#dead) return false;
    this.operations += 1;
    if (this.#cutBefore && this.operations >= this.#cutBefore.operation) {
      this.cutPower(this.#cutBefore.tornBytes);
      return false;
    }
    this.trace.push(`${this.operations} ${operation} ${path}`);
    const error = this.fault?.(operation, path);
    if (error) throw error;
    return true;
  }

  #syncStep(operation: FileOperation, path: string): void {
    if (!this.#step(operation, path)) throw new Error(`power is off (${operation} ${path})`);
  }

  async #asyncStep(operation: FileOperation, path: string): Promise<void> {
    // A dead machine runs no more code: the promise never settles.
    if (!this.#step(operation, path)) await new Promise<never>(() => undefined);
  }

  #needDir(path: string): void {
    if (!this.#dirs.has(dirname(path))) throw errnoLike("ENOENT", path);
  }

  mkdir(path: string, _mode: number): boolean {
    if (this.#dirs.has(path)) return false;
    this.#syncStep("mkdir", path);
    for (let dir = path; !this.#dirs.has(dir); dir = dirname(dir)) this.#dirs.add(dir);
    return true;
  }

  read(path: string): Buffer | undefined {
    if (this.#dead) throw new Error(`power is off (read ${path})`);
    const inode = this.#files.get(path);
    return inode ? Buffer.from(inode.data) : undefined;
  }

  writeSynced(path: string, data: Buffer, _mode: number): void {
    this.#syncStep("writeSynced", path);
    this.#needDir(path);
    const inode = this.#files.get(path) ?? { data: Buffer.alloc(0), synced: Buffer.alloc(0) };
    inode.data = Buffer.from(data);
    inode.synced = Buffer.from(data);
    this.#files.set(path, inode);
  }

  truncate(path: string, length: number): void {
    this.#syncStep("truncate", path);
    const inode = this.#files.get(path);
    if (!inode) throw errnoLike("ENOENT", path);
    inode.data = Buffer.from(inode.data.subarray(0, length));
  }

  rename(from: string, to: string): void {
    this.#syncStep("rename", `${from} -> ${to}`);
    const inode = this.#files.get(from);
    if (!inode) throw errnoLike("ENOENT", from);
    this.#needDir(to);
    this.#files.delete(from);
    this.#files.set(to, inode);
  }

  fsyncDirectory(path: string): void {
    this.#syncStep("fsyncDirectory", path);
    if (!this.#dirs.has(path)) throw errnoLike("ENOENT", path);
    // The directory's entries become durable as they are now: new names, renames and removals alike.
    for (const name of [...this.#durableFiles.keys()]) {
      if (dirname(name) === path && this.#files.get(name) === undefined) this.#durableFiles.delete(name);
    }
    for (const [name, inode] of this.#files) if (dirname(name) === path) this.#durableFiles.set(name, inode);
    for (const dir of [...this.#durableDirs]) {
      if (dir !== "/" && dirname(dir) === path && !this.#dirs.has(dir)) this.#durableDirs.delete(dir);
    }
    for (const dir of this.#dirs) if (dir !== "/" && dirname(dir) === path) this.#durableDirs.add(dir);
  }

  async openAppend(path: string, _mode: number): Promise<AppendFile> {
    await this.#asyncStep("openAppend", path);
    this.#needDir(path);
    let inode = this.#files.get(path);
    if (!inode) {
      inode = { data: Buffer.alloc(0), synced: Buffer.alloc(0) };
      this.#files.set(path, inode);
    }
    const file = inode;
    let closed = false;
    return {
      write: async (data) => {
        if (closed) throw new Error(`write after close (${path})`);
        await this.#asyncStep("write", path);
        file.data = Buffer.concat([file.data, data]);
      },
      datasync: async () => {
        if (closed) throw new Error(`datasync after close (${path})`);
        await this.#asyncStep("datasync", path);
        file.synced = Buffer.from(file.data);
      },
      close: async () => {
        closed = true;
      },
    };
  }
}

function errnoLike(code: string, path: string): NodeJS.ErrnoException {
  const error = new Error(`${code}: no such file or directory, '${path}'`) as NodeJS.ErrnoException;
  error.code = code;
  error.path = path;
  return error;
}

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";

/**
 * The few file operations the journal needs, as a seam: production uses node:fs (`nodeJournalFiles`); tests put a file
 * layer underneath that can lose power (drop every byte not yet synced) or fail a write with EIO or ENOSPC. Only the
 * calls listed here make data durable: `datasync` of an appended file, `writeSynced` of a new one, `fsyncDirectory`
 * for a rename or a creation inside a directory.
 */
export interface AppendFile {
  /** Appends at the end of the file; not durable until `datasync` resolves. */
  write(data: Buffer): Promise<void>;
  /** fdatasync: the appended data and the file size are on disk when it resolves. */
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export interface JournalFiles {
  /** Creates the directory and its missing parents; true when it did not exist before. */
  mkdir(path: string, mode: number): boolean;
  /** The whole file, or undefined when it does not exist. */
  read(path: string): Buffer | undefined;
  /** Creates (or replaces the content of) `path` with `data` and fsyncs it before returning. */
  writeSynced(path: string, data: Buffer, mode: number): void;
  /** Shortens the file; durable with the next datasync of the file. */
  truncate(path: string, length: number): void;
  /** Renames within one directory; durable once that directory is fsynced. */
  rename(from: string, to: string): void;
  /** fsync of a directory, so that a rename or a newly created file inside it survives power loss. */
  fsyncDirectory(path: string): void;
  /** Opens (creating if needed) a file to append to. */
  openAppend(path: string, mode: number): Promise<AppendFile>;
}

export const nodeJournalFiles: JournalFiles = {
  mkdir: (path, mode) => mkdirSync(path, { recursive: true, mode }) !== undefined,
  read: (path) => {
    try {
      return readFileSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  },
  writeSynced: (path, data, mode) => {
    const fd = openSync(path, "w", mode);
    try {
      let written = 0;
      while (written < data.length) written += writeSync(fd, data, written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
  truncate: (path, length) => truncateSync(path, length),
  rename: (from, to) => renameSync(from, to),
  fsyncDirectory: (path) => {
    const fd = openSync(path, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
  openAppend: async (path, mode) => nodeAppendFile(await open(path, "a", mode)),
};

function nodeAppendFile(handle: FileHandle): AppendFile {
  return {
    write: async (data) => {
      await handle.write(data);
    },
    datasync: () => handle.datasync(),
    close: () => handle.close(),
  };
}

import { dirname } from "node:path";
import { crc32 } from "node:zlib";
import { type AppendFile, type JournalFiles, nodeJournalFiles } from "./journal-files.ts";

/**
 * The journal's file format: one record per line, `<crc32 as 8 hex digits> <JSON>\n`. Text so that a technician can
 * read it with `less`; the checksum and the newline frame each record, so a record torn by a power cut (no newline,
 * or a checksum that does not match) is recognised and dropped, never half-applied.
 */

export function frameRecord(record: unknown): Buffer {
  const json = JSON.stringify(record);
  const body = Buffer.from(json, "utf8");
  const crc = crc32(body).toString(16).padStart(8, "0");
  return Buffer.concat([Buffer.from(`${crc} `, "ascii"), body, Buffer.from("\n", "ascii")]);
}

export interface ReadResult {
  records: unknown[];
  /** Bytes of the file that hold whole, valid records; anything after them is dropped. */
  validBytes: number;
  /** Why the file ends early, when it does: a torn last record (expected after power loss) or corruption. */
  damage?: { kind: "torn-tail" | "corrupt"; offset: number; detail: string };
}

export function parseRecords(content: Buffer): ReadResult {
  const records: unknown[] = [];
  let offset = 0;
  while (offset < content.length) {
    const newline = content.indexOf(0x0a, offset);
    if (newline === -1) {
      return { records, validBytes: offset, damage: { kind: "torn-tail", offset, detail: "last record has no end" } };
    }
    const line = content.subarray(offset, newline);
    const problem = checkLine(line);
    if (typeof problem === "string") {
      // A bad record that is the last one is a torn write; one followed by more records is corruption.
      const kind = newline + 1 >= content.length ? "torn-tail" : "corrupt";
      return { records, validBytes: offset, damage: { kind, offset, detail: problem } };
    }
    records.push(problem.record);
    offset = newline + 1;
  }
  return { records, validBytes: offset };
}

function checkLine(line: Buffer): { record: unknown } | string {
  if (line.length < 10 || line[8] !== 0x20) return "record is not framed as '<crc32> <json>'";
  const expected = line.subarray(0, 8).toString("ascii");
  const body = line.subarray(9);
  if (crc32(body).toString(16).padStart(8, "0") !== expected) return "checksum mismatch";
  try {
    return { record: JSON.parse(body.toString("utf8")) };
  } catch {
    return "record is not JSON";
  }
}

export function readRecordFile(path: string, files: JournalFiles = nodeJournalFiles): ReadResult {
  const content = files.read(path);
  return content === undefined ? { records: [], validBytes: 0 } : parseRecords(content);
}

/** fsync of a directory, so that a rename or a newly created file inside it survives power loss. */
export function fsyncDirectory(path: string, files: JournalFiles = nodeJournalFiles): void {
  files.fsyncDirectory(path);
}

/**
 * Replaces `path` atomically with the given records: write a temporary file, fsync it, rename it over the old one,
 * fsync the directory (ext4 can persist the rename before the data otherwise). `afterTempWritten` lets crash tests
 * stop the process between the two steps.
 */
export function replaceRecordFile(
  path: string,
  records: readonly unknown[],
  afterTempWritten?: () => void,
  files: JournalFiles = nodeJournalFiles,
): void {
  const temp = `${path}.tmp`;
  files.writeSynced(temp, Buffer.concat(records.map(frameRecord)), 0o600);
  afterTempWritten?.();
  files.rename(temp, path);
  files.fsyncDirectory(dirname(path));
}

/** An open journal file for appending; each append is on disk (fdatasync) when its promise resolves. */
export class RecordAppender {
  readonly #file: AppendFile;

  private constructor(file: AppendFile) {
    this.#file = file;
  }

  static async open(path: string, files: JournalFiles = nodeJournalFiles): Promise<RecordAppender> {
    return new RecordAppender(await files.openAppend(path, 0o600));
  }

  async append(record: unknown): Promise<void> {
    await this.#file.write(frameRecord(record));
    // fdatasync also persists the file size, which is all an append changes besides the data.
    await this.#file.datasync();
  }

  async close(): Promise<void> {
    await this.#file.close();
  }
}

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { type JournalFiles, nodeJournalFiles } from "../../agent/journal/journal-files.ts";
import {
  frameRecord,
  fsyncDirectory,
  parseRecords,
  RecordAppender,
  readRecordFile,
  replaceRecordFile,
} from "../../agent/journal/record-file.ts";

const dirs: string[] = [];
function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "record-file-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** node:fs underneath, with every call written down: which steps make a file durable, and in which order. */
function recordingFiles() {
  const calls: string[] = [];
  const files: JournalFiles = {
    ...nodeJournalFiles,
    writeSynced: (path, data, mode) => {
      calls.push(`writeSynced ${path}`);
      nodeJournalFiles.writeSynced(path, data, mode);
    },
    rename: (from, to) => {
      calls.push(`rename ${from} ${to}`);
      nodeJournalFiles.rename(from, to);
    },
    fsyncDirectory: (path) => {
      calls.push(`fsyncDirectory ${path}`);
      nodeJournalFiles.fsyncDirectory(path);
    },
    openAppend: async (path, mode) => {
      const file = await nodeJournalFiles.openAppend(path, mode);
      return {
        write: (data) => {
          calls.push("write");
          return file.write(data);
        },
        datasync: () => {
          calls.push("datasync");
          return file.datasync();
        },
        close: () => {
          calls.push("close");
          return file.close();
        },
      };
    },
  };
  return { files, calls };
}

const line = (text: string) => Buffer.from(`${text}\n`, "latin1");
const crcOf = (body: string) => crc32(Buffer.from(body, "utf8")).toString(16).padStart(8, "0");

describe("record file framing: why a line is refused", () => {
  it("accepts the shortest framed record (8 hex digits, a space, one JSON character)", () => {
    const shortest = frameRecord(7);
    expect(shortest.length).toBe(11);
    expect(parseRecords(Buffer.concat([shortest, shortest]))).toEqual({ records: [7, 7], validBytes: 22 });
  });

  it("names what is wrong with the first bad line, and where it is", () => {
    const good = frameRecord({ a: 1 });
    const cases: [Buffer, string][] = [
      // No body at all, though the checksum of nothing (00000000) would match it.
      [line("00000000 "), "record is not framed as '<crc32> <json>'"],
      [line("0000000"), "record is not framed as '<crc32> <json>'"],
      // Long enough, but no space after the checksum.
      [line(`${crcOf("{}")}-{}`), "record is not framed as '<crc32> <json>'"],
      [line(`${crcOf("[1]")} [2]`), "checksum mismatch"],
      [line(`${crcOf("{nope")} {nope`), "record is not JSON"],
    ];
    for (const [bad, detail] of cases) {
      expect(parseRecords(Buffer.concat([good, bad, good])), detail).toEqual({
        records: [{ a: 1 }],
        validBytes: good.length,
        damage: { kind: "corrupt", offset: good.length, detail },
      });
    }
  });

  it("reads a missing file as empty", () => {
    expect(readRecordFile(join(tempDir(), "none.log"))).toEqual({ records: [], validBytes: 0 });
  });
});

describe("record file durability steps", () => {
  it("fsyncDirectory fsyncs the directory it is given", () => {
    const { files, calls } = recordingFiles();
    const dir = tempDir();
    fsyncDirectory(dir, files);
    expect(calls).toEqual([`fsyncDirectory ${dir}`]);
  });

  it("replaceRecordFile writes a synced temporary file, renames it over the old one, then fsyncs the directory", () => {
    const { files, calls } = recordingFiles();
    const dir = tempDir();
    const path = join(dir, "journal.log");
    replaceRecordFile(path, [{ n: 1 }], () => calls.push("after temp written"), files);
    expect(calls).toEqual([
      `writeSynced ${path}.tmp`,
      "after temp written",
      `rename ${path}.tmp ${path}`,
      `fsyncDirectory ${dir}`,
    ]);
    expect(parseRecords(readFileSync(path)).records).toEqual([{ n: 1 }]);
  });

  it("an append is written, then datasynced, before it resolves; close closes the file", async () => {
    const { files, calls } = recordingFiles();
    const path = join(tempDir(), "journal.log");
    const appender = await RecordAppender.open(path, files);
    await appender.append({ n: 1 });
    expect(calls).toEqual(["write", "datasync"]);
    await appender.close();
    expect(calls).toEqual(["write", "datasync", "close"]);
    expect(parseRecords(readFileSync(path)).records).toEqual([{ n: 1 }]);
  });
});

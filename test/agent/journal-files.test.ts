import { closeSync, fsyncSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { nodeJournalFiles } from "../../agent/journal/journal-files.ts";

// The real calls, watched: durability is only visible as the fsyncs made (a power cut is not simulated here; the
// power-loss tests put their own file layer under the journal instead of this one).
vi.mock("node:fs", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs")>();
  return { ...actual, fsyncSync: vi.fn(actual.fsyncSync), closeSync: vi.fn(actual.closeSync) };
});
const fsyncs = vi.mocked(fsyncSync);
const closes = vi.mocked(closeSync);

const dirs: string[] = [];
function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "journal-files-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  vi.restoreAllMocks();
  fsyncs.mockClear();
  closes.mockClear();
});

const mode = (path: string) => statSync(path).mode & 0o777;

describe("nodeJournalFiles (the journal's file operations on node:fs)", () => {
  it("mkdir creates missing parents with the mode, and tells whether it created anything", () => {
    const path = join(tempDir(), "a", "b");
    expect(nodeJournalFiles.mkdir(path, 0o700)).toBe(true);
    expect(statSync(path).isDirectory()).toBe(true);
    expect(mode(path)).toBe(0o700);
    expect(nodeJournalFiles.mkdir(path, 0o700)).toBe(false);
  });

  it("read gives the whole file, undefined when there is none, and throws any other error", () => {
    const dir = tempDir();
    const path = join(dir, "f");
    writeFileSync(path, "abc\n");
    expect(nodeJournalFiles.read(path)?.toString()).toBe("abc\n");
    expect(nodeJournalFiles.read(join(dir, "missing"))).toBeUndefined();
    expect(() => nodeJournalFiles.read(dir)).toThrow(expect.objectContaining({ code: "EISDIR" }));
  });

  it("writeSynced replaces the content with the mode, writes every byte, fsyncs the file and closes it", () => {
    const path = join(tempDir(), "f");
    writeFileSync(path, "old content that is longer");
    const data = Buffer.alloc(3 * 65_536 + 17, 7);
    nodeJournalFiles.writeSynced(path, data, 0o600);
    expect(readFileSync(path).equals(data)).toBe(true);
    expect(fsyncs).toHaveBeenCalledTimes(1);
    const fd = fsyncs.mock.calls[0]?.[0];
    expect(closes).toHaveBeenCalledWith(fd);
    expect(fsyncs.mock.invocationCallOrder[0]).toBeLessThan(closes.mock.invocationCallOrder.at(-1) ?? 0);

    const created = join(tempDir(), "new");
    nodeJournalFiles.writeSynced(created, Buffer.from("x"), 0o600);
    expect(mode(created)).toBe(0o600);
  });

  it("truncate shortens and rename moves", () => {
    const dir = tempDir();
    const path = join(dir, "f");
    writeFileSync(path, "abcdef");
    nodeJournalFiles.truncate(path, 2);
    expect(readFileSync(path, "utf8")).toBe("ab");
    nodeJournalFiles.rename(path, join(dir, "g"));
    expect(readFileSync(join(dir, "g"), "utf8")).toBe("ab");
    expect(nodeJournalFiles.read(path)).toBeUndefined();
  });

  it("fsyncDirectory fsyncs the directory itself and closes it", () => {
    const dir = tempDir();
    nodeJournalFiles.fsyncDirectory(dir);
    expect(fsyncs).toHaveBeenCalledTimes(1);
    const fd = fsyncs.mock.calls[0]?.[0];
    expect(closes).toHaveBeenCalledWith(fd);
    expect(() => nodeJournalFiles.fsyncDirectory(join(dir, "missing"))).toThrow(
      expect.objectContaining({ code: "ENOENT" }),
    );
  });

  it("openAppend appends after what is there, with the mode for a new file; datasync and close reach the file", async () => {
    const dir = tempDir();
    const path = join(dir, "log");
    writeFileSync(path, "first\n");
    const probe = await open(path, "r");
    const handlePrototype = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    const datasync = vi.spyOn(handlePrototype, "datasync");
    const file = await nodeJournalFiles.openAppend(path, 0o600);
    await file.write(Buffer.from("second\n"));
    await file.datasync();
    expect(datasync).toHaveBeenCalledTimes(1);
    await file.close();
    // Closed: the handle refuses further writes.
    await expect(file.write(Buffer.from("third\n"))).rejects.toThrow();
    expect(readFileSync(path, "utf8")).toBe("first\nsecond\n");

    const created = join(dir, "new-log");
    const fresh = await nodeJournalFiles.openAppend(created, 0o600);
    await fresh.close();
    expect(mode(created)).toBe(0o600);
  });
});

import { join } from "node:path";
import { applyRecord, emptyState, type JournalRecord, type JournalState } from "../../agent/journal/journal-state.ts";
import { readRecordFile } from "../../agent/journal/record-file.ts";

/**
 * An agent's journal as it is on disk in `dataDir` (what its next start recovers), read without changing it: safe
 * while the agent runs. A test reads a vend `in-flight` here as proof that the motor was told to turn.
 */
export function journalOnDisk(dataDir: string): JournalState {
  let state = emptyState();
  for (const record of readRecordFile(join(dataDir, "journal.log")).records) {
    state = applyRecord(state, record as JournalRecord);
  }
  return state;
}

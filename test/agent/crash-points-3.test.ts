import { defineCrashSuite } from "./helpers/crash-suite.ts";

// Compaction and boot reached mid-session, not only on an empty first-boot journal: a compaction while the session is
// open (journal.compactAfterBytes is small in crash tests), and a restart that crashes again at boot or at its boot
// compaction with a vend left in flight by the first crash.
defineCrashSuite("agent crash at compaction and boot, mid-session (3/3)", [
  { name: "at a compaction mid-session (after the rename)", crashAt: "compact:2", midSession: true },
  { name: "at a compaction mid-session (before the rename)", crashAt: "compact-temp:2", midSession: true },
  { name: "at boot, restarting with a vend in flight", crashAt: ["vend-approved:1", "boot"] },
  { name: "at the boot compaction, restarting with a vend in flight", crashAt: ["vend-approved:1", "compact-temp"] },
  { name: "after the boot compaction, restarting with a vend in flight", crashAt: ["vend-approved:1", "compact"] },
]);

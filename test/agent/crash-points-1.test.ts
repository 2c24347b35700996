import { defineCrashSuite } from "./helpers/crash-suite.ts";

// agent/main.ts as a child process, SIGKILLed right after each journal write point (VEND_AGENT_CRASH_AT, armed by the
// test preload); the other points are in crash-points-2/3.test.ts so that the files run in parallel.
defineCrashSuite("agent crash at journal write points (1/3)", [
  { name: "at compact-temp (boot compaction, before the rename)", crashAt: "compact-temp" },
  { name: "at boot", crashAt: "boot" },
  { name: "at event (the pong)", crashAt: "event" },
  { name: "at ack", crashAt: "ack" },
  { name: "at payment-pending", crashAt: "payment-pending" },
  { name: "at payment-cleared (superseded payment)", crashAt: "payment-cleared" },
  { name: "at compact (after the rename)", crashAt: "compact" },
]);

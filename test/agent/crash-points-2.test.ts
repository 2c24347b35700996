import { defineCrashSuite } from "./helpers/crash-suite.ts";

// agent/main.ts as a child process, SIGKILLed right after each journal write point of the money path, and once from
// outside while the motor turns (the power cut mid-vend).
defineCrashSuite("agent crash at journal write points (2/3)", [
  { name: "at unlock", crashAt: "unlock" },
  { name: "at the first vend-approved (before the motor turns)", crashAt: "vend-approved:1" },
  { name: "at the first vend-result", crashAt: "vend-result:1" },
  { name: "at the second vend-approved", crashAt: "vend-approved:2" },
  { name: "at the second vend-result", crashAt: "vend-result:2" },
  { name: "at session-ended", crashAt: "session-ended" },
  { name: "from outside, mid-vend (power cut while the motor turns)", killMidVend: true },
]);

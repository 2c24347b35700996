// Mutation testing (issue 16): `npm run mutation` runs this and regenerates docs/mutation-report.md.
// One module or group: `npm run mutation -- --mutate protocol/signing.ts` (a comma-separated list or globs work too).

/** The modules that decide money, trust and durability. */
export const mutatedModules = [
  // Agent: the vend session, its journal, command validation.
  "agent/session/decide.ts",
  "agent/session/vend-session.ts",
  "agent/journal/journal.ts",
  "agent/journal/journal-state.ts",
  "agent/journal/record-file.ts",
  "agent/journal/journal-files.ts",
  "agent/journal/journal-command.ts",
  "agent/commands/validate-command.ts",
  "agent/commands/command-handler.ts",
  "protocol/signing.ts",
  // Bridge: purchases, prices, invoices, the outbox, broker access and HTTP input.
  "backend-bridge/purchase/orchestrator.ts",
  "backend-bridge/purchase/invoice.ts",
  "backend-bridge/purchase/selection-first.ts",
  "backend-bridge/purchase/vend-price.ts",
  "backend-bridge/outbox/backoff.ts",
  "backend-bridge/outbox/outbox-worker.ts",
  "backend-bridge/outbox/seqr-calls.ts",
  "backend-bridge/broker/access-control.ts",
  "backend-bridge/broker/machine-credentials.ts",
  "backend-bridge/broker/password-hash.ts",
  "backend-bridge/broker/machine-secret.ts",
  "backend-bridge/broker/login-throttle.ts",
  "backend-bridge/http/caller-auth.ts",
  "platform/http-json.ts",
  // Money: the MDB cashless driver, its codec and framing, minor-unit conversions.
  "hardware/mdb/mdb-cashless-mechanism.ts",
  "hardware/mdb/qibixx-codec.ts",
  "hardware/mdb/mdb-money.ts",
  "hardware/mdb/line-framer.ts",
  "platform/money.ts",
];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: "npm",
  mutate: mutatedModules,
  testRunner: "vitest",
  // Only the in-process tests (see vitest.mutation.config.ts), narrowed to those importing the mutated file.
  vitest: { configFile: "vitest.mutation.config.ts", related: true },
  coverageAnalysis: "perTest",
  checkers: ["typescript"],
  tsconfigFile: "tsconfig.mutation.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  // 2 cores, shared with other work.
  concurrency: 2,
  // A static mutant (module-level constant) would rerun every test for each mutant; they are counted as ignored in
  // the report rather than run.
  ignoreStatic: true,
  incremental: true,
  incrementalFile: "reports/mutation/stryker-incremental.json",
  timeoutMS: 10_000,
  reporters: ["html", "json", "clear-text", "progress"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
  ignorePatterns: ["dist", "reports", "coverage", ".data", "bench/results", "test-results", "docs"],
  thresholds: { high: 90, low: 80, break: null },
};

/**
 * Surviving mutants that no test can tell apart from the original code, each with the reason. scripts/mutation.ts
 * names them in docs/mutation-report.md and leaves them out of the "score without equivalents". A mutant matches on
 * file, mutator, line and column (as Stryker reports them), the replacement when given, and `code`, a piece of the
 * original line, so that an entry stops matching when the line changes.
 */
export interface Equivalent {
  file: string;
  line: number;
  column: number;
  mutator: string;
  replacement?: string;
  code: string;
  reason: string;
}

const distinctKeys =
  "the compared values are keys of one object, so never equal: `<=` and `<` (or `>=` and `>`) decide alike";

const v8SortAsksOnlyLessThan =
  "the mutant answers 0 instead of 1 for a > b; Array.prototype.sort (V8's TimSort) only asks whether the answer is " +
  "below 0, and with distinct keys 0 and 1 sort alike (tests with keys in four orders pass both ways)";

export const equivalentMutants: Equivalent[] = [
  {
    file: "protocol/signing.ts",
    line: 17,
    column: 26,
    mutator: "EqualityOperator",
    replacement: "a <= b",
    code: ".sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));",
    reason: distinctKeys,
  },
  {
    file: "protocol/signing.ts",
    line: 17,
    column: 39,
    mutator: "EqualityOperator",
    replacement: "a >= b",
    code: ".sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));",
    reason: distinctKeys,
  },
  {
    file: "protocol/signing.ts",
    line: 17,
    column: 39,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: ".sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));",
    reason:
      "reached only when a < b is false, and the keys of one object are never equal, so a > b is then always true",
  },
  {
    file: "protocol/signing.ts",
    line: 17,
    column: 39,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: ".sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));",
    reason: v8SortAsksOnlyLessThan,
  },
  {
    file: "protocol/signing.ts",
    line: 17,
    column: 39,
    mutator: "EqualityOperator",
    replacement: "a <= b",
    code: ".sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));",
    reason: v8SortAsksOnlyLessThan,
  },
  {
    file: "protocol/signing.ts",
    line: 47,
    column: 10,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "return expected.length === given.length && timingSafeEqual(expected, given);",
    reason:
      "the regex above admits exactly 64 hex digits, so `given` is always 32 bytes like the HMAC; the length check " +
      "only guards timingSafeEqual against a future change of that regex",
  },
];

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

const resultErrorOutcomeKnown =
  "a SeqrResultError's outcome is always known (SeqrError.outcomeUnknown is false and SeqrResultError does not " +
  "override it), so the general retry below answers the same { retry, outcomeUnknown: false } for it";

const emptyEventList =
  "an empty `e` list applies nothing (applyRecord adds each event listed); the record is only 7 bytes longer";

const mdbNothingInFlight =
  "#finishInFlight returns at once when no vend is in flight, so calling it without the check does the same";

const mdbReaderEnabledBeforeSetup =
  "#readerEnabled is read only by isUp() (anded with the transport's isUp(), which turns true only after onOpen's " +
  "setup) and by the transport's `up` handler (emitted after that setup); the setup sets it false first thing " +
  "(#runSetup), so a true left here while the transport is down is overwritten before anything reads it";

const mdbHeldRequestOpenOrExpired =
  "unreachable: a request held in #pending is open or expired (handled above); approving, #deny and #dropPending " +
  "clear #pending when they set another answer (#deny is always given the held request, read in the same turn)";

const mdbClosingByUsOnlyWithSession =
  "#closingByUs is read only in `#sessionOpen && !#closingByUs` (ENABLED), and every assignment " +
  "`#sessionOpen = true` (openSession) is followed at once by `#closingByUs = false`, so its value while no session " +
  "is open is never read";

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
  {
    file: "agent/commands/validate-command.ts",
    line: 84,
    column: 25,
    mutator: "OptionalChaining",
    code: "const candidate = value?.[key];",
    reason:
      "only a JSON `null` payload makes `value` nullish; then `value[key]` throws, and the catch below answers the " +
      "same null ids",
  },
  {
    file: "agent/journal/journal.ts",
    line: 170,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (extra.seen) record.s = extra.seen;",
    reason:
      "without `seen` the record gets `s: undefined`, which JSON.stringify leaves out of the line written, and " +
      "applyRecord only reads `s` when it is there: the record and the state are the same",
  },
  {
    file: "agent/journal/journal.ts",
    line: 209,
    column: 20,
    mutator: "BooleanLiteral",
    code: "this.#closed = true;",
    reason:
      "close() also drops the appender two lines down, and a write refuses `this.#closed || !this.#appender` alike: " +
      "a commit after close is refused either way",
  },
  {
    file: "backend-bridge/broker/machine-secret.ts",
    line: 52,
    column: 43,
    mutator: "StringLiteral",
    code: 'Buffer.from(hashB64 ?? "", "base64")',
    reason: "the hash group is not optional in the format regex, so after a match it is always a string",
  },
  {
    file: "backend-bridge/broker/machine-secret.ts",
    line: 54,
    column: 60,
    mutator: "StringLiteral",
    code: 'Buffer.from(saltB64 ?? "", "base64")',
    reason: "the salt group is not optional in the format regex, so after a match it is always a string",
  },
  {
    file: "backend-bridge/broker/login-throttle.ts",
    line: 80,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (times.length > cap) times.splice(0, times.length - cap);",
    reason: "at or below the cap the splice count is zero or negative, and splice removes nothing then",
  },
  {
    file: "backend-bridge/broker/login-throttle.ts",
    line: 80,
    column: 9,
    mutator: "EqualityOperator",
    replacement: "times.length >= cap",
    code: "if (times.length > cap) times.splice(0, times.length - cap);",
    reason: "at exactly the cap the splice count is zero: nothing is removed, as without the splice",
  },
  {
    file: "hardware/mdb/mdb-money.ts",
    line: 56,
    column: 112,
    mutator: "StringLiteral",
    code: 'Number(trimmed.padEnd(this.decimalPlaces, "0") || "0")',
    reason: 'the fallback only applies to an empty string, and Number("") is 0 like Number("0")',
  },
  {
    file: "platform/http-json.ts",
    line: 40,
    column: 19,
    mutator: "StringLiteral",
    code: 'request.off("data", onData);',
    reason:
      "left subscribed, a later chunk only rejects the settled promise again (no effect) and schedules another " +
      "destroy of the already destroyed request; no chunk is kept either way, as size stays above the limit",
  },
  {
    file: "platform/money.ts",
    line: 73,
    column: 98,
    mutator: "StringLiteral",
    code: 'Number(trimmedFraction.padEnd(exponent, "0") || "0")',
    reason: 'the fallback only applies to an empty string, and Number("") is 0 like Number("0")',
  },
  {
    file: "backend-bridge/broker/password-hash.ts",
    line: 45,
    column: 7,
    mutator: "EqualityOperator",
    replacement: "cost.log2N <= 1",
    code: "if (cost.log2N < 1 || cost.log2N > 20 || cost.r < 1 || cost.p < 1) return false;",
    reason:
      "log2N = 1 (N = 2) always fails anyway: scrypt needs 128 r (p + N + 2) bytes and gets maxmem 256 N r, so only " +
      "p = 0 would fit, which the same check refuses",
  },
  {
    file: "backend-bridge/broker/password-hash.ts",
    line: 46,
    column: 43,
    mutator: "StringLiteral",
    code: 'Buffer.from(hashB64 ?? "", "base64")',
    reason: "the hash group is not optional in the format regex, so after a match it is always a string",
  },
  {
    file: "backend-bridge/broker/password-hash.ts",
    line: 50,
    column: 47,
    mutator: "StringLiteral",
    code: 'Buffer.from(saltB64 ?? "", "base64")',
    reason: "the salt group is not optional in the format regex, so after a match it is always a string",
  },
  {
    file: "hardware/mdb/mdb-money.ts",
    line: 53,
    column: 22,
    mutator: "StringLiteral",
    code: 'const [, whole = "", fraction = ""] = match;',
    reason: "the whole-number group is not optional in the regex, so the default never applies",
  },
  {
    file: "platform/money.ts",
    line: 67,
    column: 26,
    mutator: "StringLiteral",
    code: 'const [, sign, whole = "", fraction = ""] = match;',
    reason: "the whole-number group is not optional in the regex, so the default never applies",
  },
  {
    file: "agent/journal/journal-state.ts",
    line: 207,
    column: 5,
    mutator: "ConditionalExpression",
    code: 'case "note":',
    reason: "a note changes nothing: without its case the switch matches no case and also changes nothing",
  },
  {
    file: "agent/journal/journal-state.ts",
    line: 212,
    column: 9,
    mutator: "EqualityOperator",
    replacement: "event.payload.seq >= next.eventSeq",
    code: "if (event.payload.seq > next.eventSeq) next.eventSeq = event.payload.seq;",
    reason: "on an equal seq the assignment writes the value eventSeq already has",
  },
  {
    file: "backend-bridge/broker/machine-credentials.ts",
    line: 47,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (entry.certificateCn !== undefined) record.certificateCn = entry.certificateCn;",
    reason:
      "the record then has `certificateCn: undefined` instead of no key; its one reader (embedded-broker.ts) uses " +
      "`record.certificateCn ?? machineId`, which reads both alike",
  },
  {
    file: "hardware/mdb/line-framer.ts",
    line: 20,
    column: 21,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: 'this.#buffer += typeof chunk === "string" ? chunk : chunk.toString("latin1");',
    reason: "a string's toString ignores the encoding argument and returns the string itself",
  },
  {
    file: "hardware/mdb/mdb-money.ts",
    line: 37,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: "if (numerator % denominator !== 0) return undefined;",
    reason:
      "a remainder makes the quotient a fraction, which the Number.isSafeInteger check two lines down refuses too",
  },
  {
    file: "hardware/mdb/qibixx-codec.ts",
    line: 57,
    column: 25,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: 'if (prefix !== "c" || head === undefined) return garbage;',
    reason: "a `c` line without a head reaches `switch (undefined)`, whose default answers the same garbage",
  },
  {
    file: "backend-bridge/http/caller-auth.ts",
    line: 21,
    column: 53,
    mutator: "StringLiteral",
    replacement: '"Stryker was here!"',
    code: 'const header = request.headers.authorization ?? "";',
    reason:
      "without an Authorization header the default is only matched against /^Basic .../, and neither the empty " +
      "string nor the mutant's text matches it: both answer 401 basic credentials required",
  },
  {
    file: "backend-bridge/http/caller-auth.ts",
    line: 29,
    column: 62,
    mutator: "StringLiteral",
    replacement: '"Stryker was here!"',
    code: 'const passwordOk = sameSecret(password, auth.password ?? "");',
    reason:
      "the default applies only when no password is configured, and then `auth.password !== undefined` two lines " +
      "down refuses the caller whatever the comparison answered",
  },
  {
    file: "backend-bridge/http/caller-auth.ts",
    line: 35,
    column: 7,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: 'if (typeof socket.getPeerCertificate !== "function" || !socket.authorized) {',
    reason:
      "(the mutant that drops the typeof check; the one that drops the whole condition is killed) a socket without " +
      "getPeerCertificate is a plain one, which has no `authorized` property either, so `!socket.authorized` " +
      "refuses it with the same 403; the typeof check only keeps getPeerCertificate from being called on it",
  },
  {
    file: "backend-bridge/outbox/seqr-calls.ts",
    line: 53,
    column: 7,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: "if (error instanceof SeqrResultError && !error.transient) {",
    reason: resultErrorOutcomeKnown,
  },
  {
    file: "backend-bridge/outbox/seqr-calls.ts",
    line: 53,
    column: 43,
    mutator: "BooleanLiteral",
    replacement: "error.transient",
    code: "if (error instanceof SeqrResultError && !error.transient) {",
    reason: resultErrorOutcomeKnown,
  },
  {
    file: "backend-bridge/outbox/seqr-calls.ts",
    line: 53,
    column: 61,
    mutator: "BlockStatement",
    replacement: "{}",
    code: "if (error instanceof SeqrResultError && !error.transient) {",
    reason: resultErrorOutcomeKnown,
  },
  {
    file: "backend-bridge/outbox/seqr-calls.ts",
    line: 190,
    column: 79,
    mutator: "StringLiteral",
    code: 'const status = await seqr.getPaymentStatus(purchase.invoiceReference ?? "", purchase.statusVersion);',
    reason:
      "paidDetail runs only after commitReservation succeeded, which the attempt reaches only with an invoice " +
      "reference, so the default never applies",
  },
  {
    file: "backend-bridge/outbox/seqr-calls.ts",
    line: 204,
    column: 59,
    mutator: "StringLiteral",
    code: 'const invoiceReference = purchase.invoiceReference ?? "";',
    reason:
      "settledByStatus is called by the commit attempt and by atDeadline, both after their own check that the " +
      "purchase has an invoice reference, so the default never applies",
  },
  {
    file: "backend-bridge/outbox/seqr-calls.ts",
    line: 294,
    column: 47,
    mutator: "StringLiteral",
    code: 'return "error" in outcome ? outcome.error : "";',
    reason:
      "settled() only gets done or give-up (the worker turns retry and later into a retry row), and errorOf is " +
      "read only for an outcome that is not done, which always carries an error",
  },
  {
    file: "agent/commands/command-handler.ts",
    line: 161,
    column: 71,
    mutator: "MethodExpression",
    replacement: "body.detail",
    code: 'events: [{ name: "command-rejected", body: { ...body, detail: body.detail.slice(0, 300) } }],',
    reason:
      "no detail reaching #reject is longer than 300: validate-command cuts the decoder's error at 300 and its other " +
      "details are fixed texts with a name cut at 40 or an id of at most 64; the session's refusals are fixed texts " +
      "with bounded ids and amounts. The slice only keeps a future longer text within the contract's 300",
  },
  {
    file: "agent/journal/journal.ts",
    line: 169,
    column: 9,
    mutator: "EqualityOperator",
    replacement: "events.length >= 0",
    code: "if (events.length > 0) record.e = events;",
    reason: emptyEventList,
  },
  {
    file: "agent/journal/journal.ts",
    line: 169,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (events.length > 0) record.e = events;",
    reason: emptyEventList,
  },
  {
    file: "backend-bridge/outbox/seqr-calls.ts",
    line: 43,
    column: 7,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (error instanceof CallTimeoutError) return true;",
    reason: "whatever this line decides for an error that is not a SeqrError, the next line answers true as well",
  },
  {
    file: "backend-bridge/outbox/seqr-calls.ts",
    line: 43,
    column: 7,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: "if (error instanceof CallTimeoutError) return true;",
    reason: "whatever this line decides for an error that is not a SeqrError, the next line answers true as well",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 153,
    column: 83,
    mutator: "StringLiteral",
    replacement: '""',
    code: 'reason: this.#outOfService?.message ?? "out of service"',
    reason:
      "#screen() answers out-of-service only while #outOfService is set, and its message is always a string, so the " +
      "fallback is never reached",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 174,
    column: 77,
    mutator: "StringLiteral",
    replacement: '"Stryker was here!"',
    code: 'return { screen: "dispensing", selection: this.#vendingSelection ?? "" };',
    reason:
      "#screen() answers dispensing only while #vending is set, and #vendingSelection is set and cleared in the same " +
      "synchronous steps as #vending, so it is never null here",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 249,
    column: 11,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: 'if (journal.state.session) await this.#endSession("fault");',
    reason: "#endSession returns at once when no session is open, so calling it without the check does the same",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 432,
    column: 11,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: 'if (journal.state.session) await this.#endSession("shutdown");',
    reason: "#endSession returns at once when no session is open, so calling it without the check does the same",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 489,
    column: 13,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (this.#vending === running) {",
    reason:
      "no other vend can start while #vending is set (#onSelection denies 'a vend is in progress') and only this " +
      "finally clears it, so when it runs #vending is always this vend's promise",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 534,
    column: 29,
    mutator: "StringLiteral",
    replacement: '""',
    code: '(this.#outOfService ? "fault" : null);',
    reason:
      "never reached with #outOfService set: a sale needs the machine in service at the unlock, and a fault that " +
      "takes it out during the vend sets #endRequested to fault, which the `??` before it returns first",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 523,
    column: 21,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: "if (!session || session.sessionId !== vend.sessionId) return;",
    reason:
      "a session never ends while its vend is in flight (cancel, Done and a fault wait for the result; stop() parks " +
      "the vend as unknown first and #onVendResult returns above for it), so an open session is always the vend's",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 536,
    column: 14,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "else if (!this.#stopping) this.#armSelectionTimer();",
    reason:
      "a selection timer armed while stopping does nothing: its callback ends the session only when not stopping, " +
      "and stop() ends the session itself",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 551,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (this.#o.journal.state.session) {",
    reason:
      "with no session open no vend is turning, so the mutant only calls #endSession, which returns at once when no " +
      "session is open",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 643,
    column: 17,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: '(vend) => vend.sessionId === session.sessionId && (vend.state === "failed" || vend.state === "unknown"),',
    reason:
      "the journal state drops a session's finished vends at its session-end record, and a session never ends with " +
      "its vend in flight (stop() and recovery park it as unknown first), so every vend in the state here is this " +
      "session's (test: an unknown vend of the previous session is not counted on the next end screen)",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 723,
    column: 23,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: 'this.#endScreen = state.screen === "idle" ? null : { state, until: this.#o.clock.now() + ms };',
    reason:
      "the end screens passed here are sessionEndState's (thank-you, vend-failed, not-charged) or not-charged, never idle",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 725,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (this.#endScreen) {",
    reason: "#endScreen was just set to an end screen (never idle, see line 720), so it is always set here",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 530,
    column: 27,
    mutator: "BooleanLiteral",
    replacement: "true",
    code: "this.#creditPending = false;",
    reason:
      "#creditPending is set only for a held selection's session, which is single-vend: past the credit branch above, " +
      "its vend was delivered or unknown (the session ends: single-vend-done), or failed with an end requested (it " +
      "ends) or while stopping (stop() ends it), and #endSession clears the flag, so it is never read again as true",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 800,
    column: 43,
    mutator: "ArithmeticOperator",
    replacement: "session.budgetMinor + session.spentMinor",
    code: "await this.#o.mechanism.openSession(session.budgetMinor - session.spentMinor);",
    reason:
      "spentMinor grows only with a delivered or unknown vend, and #offerCredit runs only while #creditPending is " +
      "set: at the unlock of a held selection (nothing vended yet) or after its one vend failed; so spentMinor is 0 " +
      "here and budget + 0 = budget - 0 (test: a held selection that fails twice is offered its 200 once)",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 907,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: 'if (which === "selection") {',
    reason:
      "the mutant also forgets the selection timer when the payment or end-screen timer is cleared; a selection " +
      "timer is armed only while a session is open, and then neither is cleared (no payment can be pending, the " +
      "unlock clears the payment timer before it arms the selection timer, #endSession and stop() clear the " +
      "selection timer first); the payment and end-screen handles it leaves set were cleared, so clearing them again " +
      "does nothing",
  },
  {
    file: "agent/session/vend-session.ts",
    line: 910,
    column: 16,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: '} else if (which === "payment") this.#paymentTimer = undefined;',
    reason:
      "the mutant forgets the payment timer when the end-screen timer is cleared (in #showEndScreen and stop()); " +
      "no payment timer is armed then: #clearPayment clears it before it shows the end screen, a session end has no " +
      "pending payment, and stop() clears the payment timer first; the end-screen handle it leaves set was cleared",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 127,
    column: 20,
    mutator: "BooleanLiteral",
    replacement: "true",
    code: "#readerEnabled = false;",
    reason: mdbReaderEnabledBeforeSetup,
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 211,
    column: 27,
    mutator: "BooleanLiteral",
    replacement: "true",
    code: "this.#readerEnabled = false;",
    reason: mdbReaderEnabledBeforeSetup,
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 796,
    column: 27,
    mutator: "BooleanLiteral",
    replacement: "true",
    code: "this.#readerEnabled = false;",
    reason: mdbReaderEnabledBeforeSetup,
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 130,
    column: 18,
    mutator: "BooleanLiteral",
    replacement: "true",
    code: "#closingByUs = false;",
    reason: mdbClosingByUsOnlyWithSession,
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 262,
    column: 25,
    mutator: "BooleanLiteral",
    replacement: "false",
    code: "this.#closingByUs = true;",
    reason: "the line before sets #sessionOpen false; " + mdbClosingByUsOnlyWithSession,
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 143,
    column: 16,
    mutator: "BooleanLiteral",
    replacement: "true",
    code: "#settingUp = false;",
    reason:
      "#settingUp is read only on adapter data, on timers armed after a setup and in #slaveLost (reached from those); " +
      "data can arrive only after the port opened, and onOpen (#setUpAdapter) sets it true synchronously, before any data event",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 146,
    column: 25,
    mutator: "BooleanLiteral",
    replacement: "true",
    code: "#pollAckDuringSetup = false;",
    reason: "#setUpAdapter sets it false before the setup and reads it only after; nothing else reads it",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 212,
    column: 37,
    mutator: "StringLiteral",
    replacement: '""',
    code: 'this.#linkReport.report("down", "stopped");',
    reason:
      'when the transport was up, its stop() emits `down` with "stopped", whose handler (#onLinkDown) reports down first; ' +
      "otherwise down was reported already; LinkReport emits only on a change, so this report never emits",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 241,
    column: 20,
    mutator: "BooleanLiteral",
    replacement: "false",
    code: "slaveOff = true;",
    reason:
      "with slaveOff set `refused` is false, and the answer came over the open link, so the fallback " +
      "`!refused && this.#transport.isUp()` calls #slaveLost alike (the link cannot close between the data event and the catch, both in one turn)",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 313,
    column: 68,
    mutator: "StringLiteral",
    replacement: "``",
    code: 'evidence: "none", detail: `the request was already',
    reason: mdbHeldRequestOpenOrExpired,
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 312,
    column: 38,
    mutator: "BlockStatement",
    replacement: "{}",
    code: 'if (pending.answered !== "open") {',
    reason: mdbHeldRequestOpenOrExpired,
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 374,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (this.#pending === pending) this.#pending = undefined;",
    reason:
      "every caller (stop, closeSession, deny, vend) passes the request it read from #pending in the same turn, with no " +
      "await in between, so the check always holds",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 514,
    column: 27,
    mutator: "MethodExpression",
    replacement: "this.#waiters",
    code: "this.#waiters = this.#waiters.filter((w) => w !== waiter);",
    reason:
      "a timed-out waiter left in the list: a later line it accepts clears its spent timer, filters it out and calls " +
      "resolve/reject of a promise already rejected, which do nothing; its accept's side effects (verdict, slaveOff, " +
      "refused) go to variables their caller no longer reads after the rejection; #onLinkDown empties the list anyway",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 514,
    column: 55,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "this.#waiters = this.#waiters.filter((w) => w !== waiter);",
    reason:
      "the filter keeps every waiter, the same as leaving the timed-out waiter in the list (see the MethodExpression " +
      "entry for this line): its later resolve/reject does nothing",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 608,
    column: 7,
    mutator: "ConditionalExpression",
    code: "default:",
    reason: "the last case of the switch: falling out of it returns the same as `return;`",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 615,
    column: 11,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (this.#inFlight) {",
    reason: mdbNothingInFlight,
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 632,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (this.#inFlight) {",
    reason: mdbNothingInFlight,
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 649,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (this.#inFlight) {",
    reason: mdbNothingInFlight,
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 656,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: 'if (existing) this.#dropPending("replaced by a new vend request");',
    reason: "existing is #pending read in the same turn, and #dropPending returns at once when nothing is pending",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 687,
    column: 13,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: 'if (pending.answered !== "open") return;',
    reason:
      "the approval timer is cleared wherever the answer changes (vend clears it before `approved`, #deny before " +
      "`denied`, #dropPending before `cancelled`), so it fires only while the request is open",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 784,
    column: 5,
    mutator: "UpdateOperator",
    replacement: "this.#linkEpoch--",
    code: "this.#linkEpoch++;",
    reason:
      "the epoch is only compared with `!==` against the value a setup step read; decrementing changes it just as well",
  },
  {
    file: "hardware/mdb/mdb-cashless-mechanism.ts",
    line: 279,
    column: 15,
    mutator: "BlockStatement",
    replacement: "{}",
    code: "} finally {",
    reason: `without the reset #closingByUs stays true only while #sessionOpen is false (set so at the start of closeSession, and a session opened meanwhile resets it itself); ${mdbClosingByUsOnlyWithSession}`,
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 410,
    column: 11,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (error instanceof CallTimeoutError) {",
    reason:
      "withTimeout rejects with anything but a CallTimeoutError only by passing on the call's own rejection (the " +
      "try's other statement, reading invoiceReference off the answer, cannot throw), so where the condition is " +
      "false `call` has rejected: `call.then(onLate, () => undefined)` runs only its rejection handler, nothing is abandoned",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 489,
    column: 26,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: 'if (!current || (current.state !== "claimed" && current.state !== "failed")) return;',
    reason:
      "unreachable: #abandonInvoice runs only for the session its own createPurchase claimed, after that createPurchase " +
      "gave up (timeout, or answer past the deadline), and only that createPurchase moves a claim to `invoiced`; every " +
      "other transition from `claimed` goes to `failed` (#releaseClaim, #failStaleClaim, this method; #cancel's " +
      "from-list includes `claimed` but its callers have read the purchase invoiced or later under the row lock), " +
      "`failed` is in no from-list and purchases are never deleted: the state read is always claimed or failed",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 500,
    column: 15,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (failed) {",
    reason:
      "the purchase was taken with lockPurchase in this same transaction (FOR UPDATE on PostgreSQL; SQLite's BEGIN " +
      "IMMEDIATE holds the database) and read as `claimed`, so the transition from `claimed` in it always moves the " +
      "row and `failed` is always a purchase",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 590,
    column: 45,
    mutator: "BooleanLiteral",
    replacement: "false",
    code: "if (!purchase?.invoiceReference) return true;",
    reason:
      "unreachable: every caller passes a session it saw invoiced or later (notified(): invoiced or machine-open; the " +
      "sweep: invoiced; the poll and payment-deadline timers are armed only for invoiced purchases), the transition " +
      "to `invoiced` stores the reference in the same write, nothing clears it and purchases are never deleted; the " +
      "line narrows the type",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 883,
    column: 7,
    mutator: "StringLiteral",
    replacement: '""',
    code: '"commit-deadline",',
    reason:
      "the commit-deadline timer is never cleared or looked up by its name (a purchase's timers go all at once, " +
      "clear(sessionId) on commit or close and clearAll at stop); re-arming it replaces the same key under either " +
      'name, and no other timer of a purchase is named "", so the name changes nothing',
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 1365,
    column: 9,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: "if (!cancelled) return undefined;",
    reason:
      "unreachable: every caller of #cancel passes the purchase it read with lockPurchase in the same transaction and " +
      "checked to be invoiced (#onSessionEnded, #onPaymentDeadline), reserved (#onCommandRejected, #onUnlockExpired) " +
      "or reserved/unlocked/vending (#applyStatusWhileOpen, #tryFinalize), all in `holding`; the row is locked (FOR " +
      "UPDATE on PostgreSQL, the one writer on SQLite) and nothing in between changes its state, so the transition to " +
      "cancelled always returns the purchase and `cancelled` is never undefined here",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 1008,
    column: 35,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: 'if (event.name === "fault" || event.name === "pong" || event.name === "in-service") return;',
    reason:
      "a pong's sessionId is null by its schema (protocol/messages.ts pongEvent: z.null(); the fleet link decodes every event with eventSchemas), so a pong let past this line returns at the next one, `if (sessionId === null) return;`, before anything else is done",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 1008,
    column: 60,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: 'if (event.name === "fault" || event.name === "pong" || event.name === "in-service") return;',
    reason:
      "an in-service event's sessionId is null by its schema (protocol/messages.ts inServiceEvent: z.null(); the fleet link decodes every event with eventSchemas), so one let past this line returns at the next one, `if (sessionId === null) return;`, before anything else is done",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 1018,
    column: 13,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: 'if (purchase.state === "reserved" || purchase.state === "unlocked") {',
    reason:
      'the guard repeats the transition\'s own condition: tx.transition(sessionId, ["reserved", "unlocked"], ...) writes nothing (no row, no audit entry) and answers undefined when the row, locked by this transaction, is in any other state (sql-store transition), so `vending` is undefined and nothing is scheduled either',
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 224,
    column: 56,
    mutator: "ConditionalExpression",
    replacement: "false",
    code: "if (!openIds.has(sessionId)) this.#sweptSessionMax.delete(sessionId);",
    reason:
      "the pruning only bounds memory: #sweptSessionMax is read only by `has` for a purchase listed open, and it drops ids that are no longer open, i.e. committed, cancelled or failed; no transition leaves those states and session ids are random 96-bit primary keys inserted once, so a pruned id is never looked up again",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 1503,
    column: 35,
    mutator: "StringLiteral",
    replacement: '"Stryker was here!"',
    code: 'const left = (reconciliation ?? "").split(",")',
    reason:
      "unreachable: withoutReason's only caller is #abandonInvoice's `failed` branch, for a claim whose sendInvoice answered after a CallTimeoutError or after the createPurchase deadline; such a claim becomes failed only by #releaseClaim after a CallTimeoutError (always may-have-acted, so flagged invoice-reference-unknown in the same transaction) or by #failStaleClaim (flagged the same), and nothing but this function removes a reason: `reconciliation` is never null here. flagReconciliation writes a Set of non-empty reasons joined by ',' (no reason contains one), so no entry is \"\"",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 1503,
    column: 68,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: 'filter((entry) => entry !== "" && entry !== reason)',
    reason:
      'entry !== "" is always true here: the reconciliation passed in is never null and has no empty entry (see the entry for line 1503, column 35)',
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 1503,
    column: 78,
    mutator: "StringLiteral",
    replacement: '"Stryker was here!"',
    code: 'filter((entry) => entry !== "" && entry !== reason)',
    reason:
      'no entry is "" nor the mutant\'s string (not a reason the bridge writes), so both comparisons are true alike: the reconciliation passed in is never null and has no empty entry (see the entry for line 1503, column 35)',
  },
  {
    file: "backend-bridge/broker/password-hash.ts",
    line: 77,
    column: 66,
    mutator: "StringLiteral",
    replacement: '""',
    code: '.update(stored).update("\\0").update(password)',
    reason:
      "digests are compared only for the same stored hash (#matchesKnown returns undefined unless known.stored === " +
      "stored, checked before the digest), and with a fixed prefix `stored` the HMAC's input stored + password tells " +
      "passwords apart with or without the separator",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 1195,
    column: 84,
    mutator: "StringLiteral",
    replacement: '""',
    code: 'outcome: "outcome" in vend ? vend.outcome : "failed" }',
    reason:
      "unreachable: this branch runs only for vend-failed (vend-unknown took the branch above), and vend-failed's " +
      "schema requires `outcome` (protocol/messages.ts vendFailedEvent: z.enum([...]), not optional; the fleet link " +
      "decodes every event with it), so the fallback is never read",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 1263,
    column: 11,
    mutator: "ConditionalExpression",
    replacement: "true",
    code: "if (rejected.commandId !== null && rejected.commandId === this.#unlockCommandId(purchase)) {",
    reason:
      "the mutant of the left operand alone (`true && ...`; the whole condition made true is killed): #unlockCommandId " +
      "always answers a string (the stored id, or the one derived from the session id), so a null commandId never " +
      "equals it and the right operand alone decides alike",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 1042,
    column: 7,
    mutator: "ConditionalExpression",
    replacement: "default:",
    code: "default:",
    reason:
      "the default clause is the switch's last and the switch the method's last statement: without its `return;` the method returns just the same (undefined), and no event reaches it anyway (fault, pong and in-service returned above; the other names each have their case)",
  },
  {
    file: "backend-bridge/purchase/orchestrator.ts",
    line: 324,
    column: 7,
    mutator: "ConditionalExpression",
    replacement: "default:",
    code: "default:",
    reason:
      "the default clause is the switch's last and holds only `break`: without it control leaves the switch the same way",
  },
];

/**
 * The chaos test's judge: a pure function over three records taken once everything has healed and gone quiet.
 *
 *   - SEQR's (the sandbox): every invoice with its status, reservation, paid amount and history, and every
 *     createPurchase the UPS caller sent with when it was answered;
 *   - the bridge's store: purchases, vend records, outbox rows still pending, machines flagged unavailable;
 *   - the machines' physical ledgers: every product that really dropped (written by the simulators, fsync'd).
 *
 * It answers with the violations of the money and availability rules (design §4, issue 15), each named by invariant
 * with the evidence, so that a failing seed says what went wrong and where. No I/O, no clock: the same records give
 * the same verdict, which is what lets its unit test doctor a ledger and watch it fail.
 */

export type InvoiceStatus = "ISSUED" | "RESERVED" | "PAID" | "CANCELED" | "FAILED" | "EXPIRED" | string;

export interface InvoiceRecord {
  invoiceReference: string;
  /** The bridge puts the purchase's sessionId here. */
  clientInvoiceId: string;
  status: InvoiceStatus;
  reserved?: { minor: number } | undefined;
  paid?: { minor: number } | undefined;
  history: Array<{ event: string }>;
}

export interface ScanRecord {
  machineId: string;
  /** When UPS posted createPurchase and when it had the answer (or gave up), ms. */
  startedAt: number;
  answeredAt: number;
  kind: "invoice" | "error-code" | "failed";
  invoiceReference?: string;
  errorCode?: string;
  reason?: string;
  /** The final scan of a machine after quiescence: it must get an invoice (the machine is for sale). */
  probe?: boolean;
}

export interface SandboxRecord {
  invoices: InvoiceRecord[];
  scans: ScanRecord[];
}

export interface PurchaseRecord {
  sessionId: string;
  machineId: string;
  state: string;
  amountMinor: number;
  invoiceReference: string | null;
  billedMinor: number | null;
  reconciliation: string | null;
  createdAt: number;
  closedAt: number | null;
}

export interface VendRecordLite {
  sessionId: string;
  vendId: string;
  selection: string;
  priceMinor: number;
  outcome: "vended" | "failed" | "unknown" | string;
  at: number;
}

export interface StoreRecord {
  purchases: PurchaseRecord[];
  vends: VendRecordLite[];
  /** Outbox rows not yet done (SEQR calls still owed). */
  pendingOutbox: Array<{ sessionId: string; kind: string }>;
  /** machineId -> reason, for machines the bridge has flagged unavailable. */
  unavailable: Record<string, string>;
}

export interface DropRecord {
  selection: string;
  at: number;
}

export interface PhysicalRecord {
  /** machineId -> the products that dropped, in order. */
  drops: Record<string, DropRecord[]>;
}

export interface CheckContext {
  machines: readonly string[];
  /** machineId -> selection -> the registry's price, minor units. */
  prices: Record<string, Record<string, number>>;
  /** SEQR expects createPurchase answered within about 5 s. */
  createPurchaseDeadlineMs: number;
  /** Windows when the bridge was killed or stopped: a createPurchase that got no answer then is not its fault. */
  bridgeOutages: Array<{ from: number; to: number }>;
  /** A drop this long after a flagged purchase closed still counts as that purchase's (agent clocks, slow reports). */
  flagWindowSlackMs?: number;
}

export const invariantNames = [
  "billed-without-drop",
  "billed-twice",
  "above-reservation",
  "dropped-unbilled",
  "reservation-open",
  "machine-unavailable",
  "create-purchase-late",
] as const;
export type InvariantName = (typeof invariantNames)[number];

export interface Violation {
  invariant: InvariantName;
  detail: string;
}

export interface Verdict {
  violations: Violation[];
  /** What was checked, for the report: counts per machine and overall. */
  totals: { invoices: number; paid: number; billedMinor: number; drops: number; billedVends: number; scans: number };
}

const openPurchaseStates = new Set(["claimed", "invoiced", "reserved", "unlocked", "vending", "committing"]);

/** The bridge's flag for an invoice SEQR may have created while its answer never reached the bridge. */
const invoiceReferenceUnknown = "invoice-reference-unknown";

function reasonsOf(purchase: PurchaseRecord): string[] {
  return (purchase.reconciliation ?? "").split(",").filter(Boolean);
}

/** A purchase whose invoice SEQR created while the bridge never learned its reference, flagged as such. */
function sentButNeverNamed(purchase: PurchaseRecord): boolean {
  return purchase.invoiceReference === null && reasonsOf(purchase).includes(invoiceReferenceUnknown);
}

/** Flagged for something about its vends or its bill: what may explain a drop that was not billed. */
function flaggedForVends(purchase: PurchaseRecord): boolean {
  return reasonsOf(purchase).some((reason) => reason !== invoiceReferenceUnknown);
}

export function checkInvariants(
  sandbox: SandboxRecord,
  store: StoreRecord,
  physical: PhysicalRecord,
  context: CheckContext,
): Verdict {
  const violations: Violation[] = [];
  const fail = (invariant: InvariantName, detail: string) => violations.push({ invariant, detail });
  const slack = context.flagWindowSlackMs ?? 30_000;

  const purchases = new Map(store.purchases.map((purchase) => [purchase.sessionId, purchase]));
  const purchaseOfReference = new Map(
    store.purchases.filter((p) => p.invoiceReference !== null).map((p) => [p.invoiceReference as string, p]),
  );
  const vendsOf = new Map<string, VendRecordLite[]>();
  for (const vend of dedupeVends(store.vends)) {
    const list = vendsOf.get(vend.sessionId) ?? [];
    list.push(vend);
    vendsOf.set(vend.sessionId, list);
  }
  const priceOf = (machineId: string, vend: VendRecordLite) =>
    context.prices[machineId]?.[vend.selection] ?? vend.priceMinor;

  // ---- SEQR's invoices: open reservations, amounts, double commits --------------------------------------------
  const paidInvoicesOfSession = new Map<string, InvoiceRecord[]>();
  let billedMinor = 0;
  for (const invoice of sandbox.invoices) {
    const purchase = purchases.get(invoice.clientInvoiceId) ?? purchaseOfReference.get(invoice.invoiceReference);
    const who = `invoice ${invoice.invoiceReference} (session ${invoice.clientInvoiceId}, machine ${purchase?.machineId ?? "?"})`;
    if (invoice.status === "ISSUED" && purchase && sentButNeverNamed(purchase)) {
      // Nobody was shown it, so it holds no money; the bridge flagged it for a person (no SEQR lookup by our id).
    } else if (invoice.status === "ISSUED" || invoice.status === "RESERVED") {
      fail("reservation-open", `${who} is still ${invoice.status}`);
    }
    if (invoice.status === "EXPIRED") {
      fail("reservation-open", `${who} was left RESERVED until SEQR expired it`);
    }
    const commits = invoice.history.filter((entry) => /commit/i.test(entry.event)).length;
    if (commits > 1) fail("billed-twice", `${who} was committed ${commits} times`);
    if (invoice.status !== "PAID") continue;
    const paid = invoice.paid?.minor ?? 0;
    billedMinor += paid;
    if (invoice.reserved !== undefined && paid > invoice.reserved.minor) {
      fail("above-reservation", `${who} paid ${paid} above its reservation of ${invoice.reserved.minor}`);
    }
    if (purchase && paid > purchase.amountMinor) {
      fail("above-reservation", `${who} paid ${paid} above the purchase's amount ${purchase.amountMinor}`);
    }
    if (!purchase) {
      fail("billed-without-drop", `${who} is PAID (${paid}) but the bridge has no purchase for it`);
      continue;
    }
    const list = paidInvoicesOfSession.get(purchase.sessionId) ?? [];
    list.push(invoice);
    paidInvoicesOfSession.set(purchase.sessionId, list);
  }
  for (const [sessionId, invoices] of paidInvoicesOfSession) {
    if (invoices.length > 1) {
      fail(
        "billed-twice",
        `session ${sessionId} has ${invoices.length} PAID invoices: ${invoices.map((i) => i.invoiceReference).join(", ")}`,
      );
    }
  }

  // ---- the bridge's purchases: amounts against the vends they recorded -------------------------------------------
  /** Vend ids billed, with the sessions that billed them (a vend billed by two sessions is billed twice). */
  const billedBy = new Map<string, string[]>();
  /** Vend records that explain a physical drop: billed, or recorded and flagged for a person. */
  const explaining: Array<VendRecordLite & { machineId: string; billed: boolean }> = [];
  for (const purchase of store.purchases) {
    const who = `session ${purchase.sessionId} (machine ${purchase.machineId})`;
    if (openPurchaseStates.has(purchase.state)) fail("reservation-open", `${who} is still ${purchase.state}`);
    if (purchase.billedMinor !== null && purchase.billedMinor > purchase.amountMinor) {
      fail("above-reservation", `${who} billed ${purchase.billedMinor} above its amount ${purchase.amountMinor}`);
    }
    const vends = vendsOf.get(purchase.sessionId) ?? [];
    const vended = vends.filter((vend) => vend.outcome === "vended");
    const vendedSum = vended.reduce((sum, vend) => sum + priceOf(purchase.machineId, vend), 0);
    const paid = (paidInvoicesOfSession.get(purchase.sessionId) ?? []).reduce(
      (sum, invoice) => sum + (invoice.paid?.minor ?? 0),
      0,
    );
    const flagged = flaggedForVends(purchase);
    if (paid > vendedSum) {
      fail("billed-without-drop", `${who} was billed ${paid} but its recorded vends come to ${vendedSum}`);
    }
    if (paid < vendedSum && !flagged) {
      fail(
        "dropped-unbilled",
        `${who} recorded vends worth ${vendedSum} but was billed ${paid}, with no reconciliation flag`,
      );
    }
    const billed = paid > 0;
    for (const vend of vended) {
      const key = vendKey(purchase.machineId, vend);
      if (billed) billedBy.set(key, [...(billedBy.get(key) ?? []), purchase.sessionId]);
      // A recorded but unbilled, unflagged vend was reported above; it still accounts for its drop (one report each).
      explaining.push({ ...vend, machineId: purchase.machineId, billed });
    }
    // An unknown outcome is not billed (design §4.2) but must be in front of a person: only then does it explain a drop.
    if (flagged) {
      for (const vend of vends.filter((v) => v.outcome === "unknown")) {
        explaining.push({ ...vend, machineId: purchase.machineId, billed: false });
      }
    }
  }
  for (const [key, sessions] of billedBy) {
    if (sessions.length > 1) fail("billed-twice", `vend ${key} was billed by sessions ${sessions.join(", ")}`);
  }
  for (const item of store.pendingOutbox) {
    fail("reservation-open", `outbox ${item.kind} of session ${item.sessionId} is still pending`);
  }

  // ---- physical truth: every billed vend dropped; every drop billed or flagged ----------------------------------
  let dropCount = 0;
  let billedVends = 0;
  for (const machineId of context.machines) {
    const drops = [...(physical.drops[machineId] ?? [])].sort((a, b) => a.at - b.at);
    dropCount += drops.length;
    const matched = new Array<boolean>(drops.length).fill(false);
    const candidates = explaining
      .filter((vend) => vend.machineId === machineId)
      // Billed vends first: when a drop could be either, it is the billed one that must have dropped.
      .sort((a, b) => Number(b.billed) - Number(a.billed) || a.at - b.at);
    for (const vend of candidates) {
      if (vend.billed) billedVends += 1;
      let best = -1;
      for (let index = 0; index < drops.length; index++) {
        if (matched[index] || drops[index]!.selection !== vend.selection) continue;
        if (best === -1 || Math.abs(drops[index]!.at - vend.at) < Math.abs(drops[best]!.at - vend.at)) best = index;
      }
      if (best !== -1) {
        matched[best] = true;
      } else if (vend.billed) {
        fail(
          "billed-without-drop",
          `machine ${machineId}: ${vend.selection} billed in session ${vend.sessionId} (vend ${vend.vendId}) never dropped`,
        );
      }
    }
    const flaggedPurchases = store.purchases.filter((p) => p.machineId === machineId && flaggedForVends(p));
    drops.forEach((drop, index) => {
      if (matched[index]) return;
      const flaggedWindow = flaggedPurchases.find(
        (p) => p.createdAt <= drop.at && drop.at <= (p.closedAt ?? Number.POSITIVE_INFINITY) + slack,
      );
      if (!flaggedWindow) {
        fail(
          "dropped-unbilled",
          `machine ${machineId}: ${drop.selection} dropped at ${new Date(drop.at).toISOString()} is neither billed nor flagged`,
        );
      }
    });
  }

  // ---- availability --------------------------------------------------------------------------------------------
  for (const [machineId, reason] of Object.entries(store.unavailable)) {
    fail("machine-unavailable", `machine ${machineId} is flagged unavailable: ${reason}`);
  }
  for (const machineId of context.machines) {
    const probe = sandbox.scans.filter((scan) => scan.machineId === machineId && scan.probe).at(-1);
    if (!probe) fail("machine-unavailable", `machine ${machineId} was not probed at the end`);
    else if (probe.kind !== "invoice") {
      fail(
        "machine-unavailable",
        `machine ${machineId} does not sell after healing: ${probe.errorCode ?? probe.reason ?? probe.kind}`,
      );
    }
  }

  // ---- createPurchase answered in time -----------------------------------------------------------------------------
  for (const scan of sandbox.scans) {
    const took = scan.answeredAt - scan.startedAt;
    const during = context.bridgeOutages.some((o) => scan.startedAt <= o.to && o.from <= scan.answeredAt);
    if (scan.kind !== "failed" && took > context.createPurchaseDeadlineMs && !during) {
      fail("create-purchase-late", `createPurchase for ${scan.machineId} answered after ${took} ms (${scan.kind})`);
    }
    if (scan.kind === "failed" && !during) {
      fail(
        "create-purchase-late",
        `createPurchase for ${scan.machineId} at ${new Date(scan.startedAt).toISOString()} got no answer (${scan.reason ?? "?"}) while the bridge was up`,
      );
    }
  }

  return {
    violations,
    totals: {
      invoices: sandbox.invoices.length,
      paid: sandbox.invoices.filter((invoice) => invoice.status === "PAID").length,
      billedMinor,
      drops: dropCount,
      billedVends,
      scans: sandbox.scans.length,
    },
  };
}

function vendKey(machineId: string, vend: VendRecordLite): string {
  return `${machineId}/${vend.vendId}`;
}

/** One record per (session, vend id): a vend stored twice is one product, as the store's own key says. */
function dedupeVends(vends: readonly VendRecordLite[]): VendRecordLite[] {
  const seen = new Map<string, VendRecordLite>();
  for (const vend of vends)
    seen.set(`${vend.sessionId}/${vend.vendId}`, seen.get(`${vend.sessionId}/${vend.vendId}`) ?? vend);
  return [...seen.values()];
}

/** A verdict as a table, invariant by invariant, for the test's failure message and the long run's output. */
export function describeVerdict(verdict: Verdict): string {
  const lines = invariantNames.map((name) => {
    const count = verdict.violations.filter((violation) => violation.invariant === name).length;
    return `${count === 0 ? "ok  " : "FAIL"} ${name}${count === 0 ? "" : ` (${count})`}`;
  });
  const t = verdict.totals;
  lines.push(
    `${t.scans} createPurchase, ${t.invoices} invoices, ${t.paid} paid (${t.billedMinor} minor), ${t.billedVends} billed vends, ${t.drops} drops`,
  );
  for (const violation of verdict.violations.slice(0, 40)) lines.push(`  ${violation.invariant}: ${violation.detail}`);
  if (verdict.violations.length > 40) lines.push(`  ... and ${verdict.violations.length - 40} more`);
  return lines.join("\n");
}

/**
 * The customer's SEQR app as one self-contained page (no build step, no external assets), served at /app/.
 * It talks only to the relative JSON API `api/...` (= /app/api/...), so it also works embedded in an iframe or
 * behind a path prefix. Query parameters prefill it: ?msisdn=46700000001&pin=1234&qr=HTTP://SEQR.SE/000/ups?...
 * (encode the qr value), &amount=20.00, &qrExample=<a code that works here, shown as the scan field's placeholder>.
 */
export const customerAppPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SEQR app (sandbox)</title>
<link rel="icon" href="data:,">
<style>
  :root { --accent: #0a7d5a; --bad: #b3261e; --muted: #666; font-family: system-ui, sans-serif; }
  body { margin: 0; background: #e9eef0; display: flex; justify-content: center; }
  main { width: 100%; max-width: 380px; min-height: 100vh; background: #fff; box-shadow: 0 0 12px #0002; }
  header { background: var(--accent); color: #fff; padding: 12px 16px; font-weight: 600; }
  header small { display: block; font-weight: 400; opacity: .85; }
  section { padding: 10px 16px; border-bottom: 1px solid #eee; }
  label { display: block; font-size: 12px; color: var(--muted); margin-top: 6px; }
  input { width: 100%; box-sizing: border-box; padding: 7px; font-size: 15px; border: 1px solid #bbb; border-radius: 6px; }
  .row { display: flex; gap: 8px; }
  .row > * { flex: 1; }
  button { margin-top: 8px; padding: 8px 12px; font-size: 15px; border-radius: 6px; border: 0; cursor: pointer;
           background: var(--accent); color: #fff; }
  button.secondary { background: #ddd; color: #222; }
  button:disabled { opacity: .5; cursor: default; }
  .card { border: 1px solid #ddd; border-radius: 10px; padding: 10px; margin: 10px 0; }
  .card h3 { margin: 0 0 2px; font-size: 16px; }
  .status { float: right; font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #eee; }
  .status.RESERVED, .status.PAID { background: #d7f3e6; color: var(--accent); }
  .status.CANCELED, .status.EXPIRED, .status.FAILED { background: #f8dcdb; color: var(--bad); }
  table { width: 100%; border-collapse: collapse; font-size: 14px; margin-top: 6px; }
  td { padding: 2px 0; } td.amount { text-align: right; white-space: nowrap; }
  tr.total td { border-top: 1px solid #ccc; font-weight: 600; }
  .note { font-size: 12px; color: var(--muted); }
  .error { color: var(--bad); font-size: 13px; min-height: 1em; }
  .ok { color: var(--accent); font-size: 13px; }
  .problem { border: 2px solid var(--bad); border-radius: 10px; padding: 10px; margin: 10px 0; }
  .problem strong { display: block; color: var(--bad); font-size: 16px; }
  .problem p { margin: 4px 0 0; font-size: 14px; }
</style>
</head>
<body>
<main>
  <header>SEQR <small>sandbox app: nothing here moves real money</small></header>
  <section>
    <div class="row">
      <div><label for="msisdn">Phone number</label><input id="msisdn" inputmode="numeric" autocomplete="off"></div>
      <div><label for="pin">PIN</label><input id="pin" type="password" inputmode="numeric" autocomplete="off"></div>
    </div>
  </section>
  <section>
    <label for="qr">Scanned code</label>
    <input id="qr" placeholder="The code under a machine's QR" autocomplete="off">
    <div class="row">
      <div><label for="amount">Max amount</label><input id="amount" placeholder="20.00" inputmode="decimal"></div>
      <div><label for="currency">Currency</label><input id="currency" placeholder="EUR" maxlength="3"></div>
    </div>
    <button id="scan">Scan</button>
    <div id="scan-result" class="note" role="status"></div>
  </section>
  <section>
    <div id="scan-problem" class="problem" role="alert" hidden><strong></strong><p></p><p class="note"></p></div>
    <div id="error" class="error" role="alert"></div>
    <div id="invoices"><p class="note">Enter your phone number to see your payments.</p></div>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const name of ["msisdn", "pin", "qr", "amount", "currency"]) if (params.has(name)) $(name).value = params.get(name);
if (params.get("qrExample")) $("qr").placeholder = params.get("qrExample");
// An action's error (a wrong PIN) stays until the next action; a failed refresh clears only its own message.
let refreshError = false;
function showError(message, fromRefresh) {
  $("error").textContent = message;
  refreshError = fromRefresh;
}
// A cancelled, expired or failed payment took nothing: its card says so instead of the total it once asked for.
const closedUnpaid = new Set(["CANCELED", "EXPIRED", "FAILED"]);
const api = (path) => new URL("api/" + path, location.href);
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
let lastRendered = "";

async function call(method, path, body) {
  const response = await fetch(api(path), {
    method, headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(json.error || ("HTTP " + response.status));
  return json;
}

// Why the last scan of a machine started no payment (busy, out of service...): in words, until a scan works.
function renderProblem(problem) {
  const box = $("scan-problem");
  box.hidden = !problem;
  if (!problem) return;
  const [title, advice, code] = box.children;
  title.textContent = problem.title;
  advice.textContent = problem.advice;
  code.textContent = problem.code;
}

function render(invoices) {
  const html = invoices.length === 0 ? '<p class="note">No payments yet. Scan a machine\\'s code.</p>' :
    invoices.map((invoice) => {
      const nothingCharged = closedUnpaid.has(invoice.status) && !invoice.paid;
      const rows = nothingCharged ? "" : invoice.rows.map((row) => "<tr><td>" + escape(row.quantity) + " × " + escape(row.description) +
        '</td><td class="amount">' + escape(row.amount) + "</td></tr>").join("");
      const extra = [
        invoice.reserved ? "Reserved " + escape(invoice.reserved.text) : "",
        invoice.paid ? "Paid " + escape(invoice.paid.text) : "",
        invoice.refunded ? "Refunded " + escape(invoice.refunded.text) : "",
      ].filter(Boolean).join(" · ");
      const actions = invoice.canConfirm || invoice.canCancel ?
        '<div class="row">' +
        (invoice.canConfirm ? '<button data-action="confirm" data-ref="' + escape(invoice.invoiceReference) + '">Confirm with PIN</button>' : "") +
        (invoice.canCancel ? '<button class="secondary" data-action="cancel" data-ref="' + escape(invoice.invoiceReference) + '">Decline</button>' : "") +
        "</div>" : "";
      const blocker = invoice.blocker && invoice.status === "ISSUED" ? '<p class="note">' + escape(invoice.blocker) + "</p>" : "";
      return '<div class="card" data-ref="' + escape(invoice.invoiceReference) + '">' +
        '<span class="status ' + escape(invoice.status) + '">' + escape(invoice.status) + "</span>" +
        "<h3>" + escape(invoice.merchant || invoice.title) + "</h3>" +
        '<div class="note">' + escape(invoice.title) + " · ref " + escape(invoice.invoiceReference) + " · v" + escape(invoice.version) + "</div>" +
        "<table>" + rows + (nothingCharged
          ? '<tr class="total"><td>Nothing charged</td><td class="amount"></td></tr>'
          : '<tr class="total"><td>Total</td><td class="amount">' + escape(invoice.total.text) + "</td></tr>") + "</table>" +
        (extra ? '<p class="note">' + extra + "</p>" : "") + blocker + actions + "</div>";
    }).join("");
  if (html !== lastRendered) { $("invoices").innerHTML = html; lastRendered = html; }
}

async function refresh() {
  const msisdn = $("msisdn").value.trim();
  if (!/^\\d{6,15}$/.test(msisdn)) return;
  try {
    const answer = await call("GET", "customers/" + msisdn + "/invoices");
    renderProblem(answer.scanProblem);
    render(answer.invoices);
    if (refreshError) showError("", false);
  } catch (error) { showError(error.message, true); }
}

$("scan").addEventListener("click", async () => {
  $("scan-result").textContent = "…";
  try {
    const body = { msisdn: $("msisdn").value.trim(), qr: $("qr").value.trim() };
    if ($("amount").value.trim()) body.amount = $("amount").value.trim();
    if ($("currency").value.trim()) body.currency = $("currency").value.trim().toUpperCase();
    const result = await call("POST", "scan", body);
    const outcome = result.outcome;
    $("scan-result").textContent = result.kind === "invoice" ? "Opened invoice " + result.invoice.invoiceReference
      : outcome.kind === "invoice" ? "Reseller answered invoiceReferenceId " + outcome.invoiceReferenceId + (outcome.note ? " (" + outcome.note + ")" : "")
      : result.problem ? result.problem.title
      : "createPurchase failed: " + outcome.reason;
    await refresh();
  } catch (error) { $("scan-result").textContent = error.message; }
});

$("invoices").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  button.disabled = true;
  try {
    const msisdn = $("msisdn").value.trim();
    const body = button.dataset.action === "confirm" ? { msisdn, pin: $("pin").value.trim() } : { msisdn };
    showError("", false);
    await call("POST", "invoices/" + encodeURIComponent(button.dataset.ref) + "/" + button.dataset.action, body);
    lastRendered = "";
    await refresh();
  } catch (error) { showError(error.message, false); button.disabled = false; }
});

$("msisdn").addEventListener("change", () => { lastRendered = ""; refresh(); });
setInterval(refresh, 1000);
refresh();
</script>
</body>
</html>
`;

import { escapeHtml } from "../platform/html.ts";

/**
 * The demo's one page: each machine's screen (its own kiosk page, in a frame), the customer's phone (the sandbox's
 * app page, in a frame) and the flow as it happens (server-sent events). Clicking the QR on a machine's screen is
 * "scanning it with the phone": the kiosk page tells this page, which asks the demo server to scan.
 */
export interface DemoPageMachine {
  id: string;
  name: string;
  kioskUrl: string;
}

export function demoPageHtml(machines: DemoPageMachine[], phoneUrl: string): string {
  const panels = machines
    .map(
      (machine) => `
    <section class="machine" data-machine="${escapeHtml(machine.id)}">
      <h2>${escapeHtml(machine.name)} <small>${escapeHtml(machine.id)}</small></h2>
      <iframe title="Screen of ${escapeHtml(machine.id)}" name="screen-${escapeHtml(machine.id)}" src="${escapeHtml(machine.kioskUrl)}"></iframe>
      <button class="scan" data-machine="${escapeHtml(machine.id)}">Scan this machine's QR with the phone</button>
    </section>`,
    )
    .join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>seqr-vend demo</title>
<link rel="icon" href="data:,">
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #eef1f4; color: #1b1f24; }
  header { padding: 12px 20px; background: #14323f; color: white; }
  header p { margin: 4px 0 0; opacity: .85; font-size: 14px; }
  main { display: grid; grid-template-columns: 1fr 1fr 360px; gap: 16px; padding: 16px; }
  .machine, .phone, .flow { background: white; border-radius: 10px; padding: 12px; box-shadow: 0 1px 3px #0002; }
  h2 { font-size: 16px; margin: 0 0 8px; } h2 small { color: #667; font-weight: normal; }
  iframe { width: 100%; border: 1px solid #ccd; border-radius: 6px; background: white; }
  .machine iframe { height: 560px; }
  .phone iframe { height: 640px; }
  button.scan { margin-top: 8px; width: 100%; padding: 8px; font-size: 14px; }
  .flow { grid-column: 1 / -1; max-height: 260px; overflow: auto; font: 12px ui-monospace, monospace; }
  .flow div { padding: 2px 0; border-bottom: 1px solid #f0f0f0; }
  .flow .warn, .flow .error { color: #a40; }
  .flow .time { display: inline-block; width: 9ch; color: #567; font-variant-numeric: tabular-nums; }
  .flow .who { display: inline-block; width: 110px; color: #567; }
</style>
</head>
<body>
<header>
  <strong>seqr-vend demo</strong>: a SEQR sandbox, the bridge and two simulated vending machines, all on this computer.
  <p>Click the QR code on a machine's screen to scan it with the phone, confirm on the phone with PIN 1234, then pick a
  product on the machine's screen. The invoice on the phone follows what was vended.</p>
</header>
<main>
  ${panels}
  <section class="phone"><h2>The customer's phone (SEQR app)</h2><iframe title="Phone" name="phone" src="${escapeHtml(phoneUrl)}"></iframe></section>
  <section class="flow" id="flow" aria-live="polite"><h2>What happens</h2></section>
</main>
<script>
"use strict";
async function scan(machineId) {
  const response = await fetch("api/scan", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ machineId }) });
  const result = await response.json();
  addLine({ process: "phone", level: response.ok ? "info" : "warn", msg: result.summary || result.error || "scanned" });
}
document.querySelectorAll("button.scan").forEach((button) => button.addEventListener("click", () => scan(button.dataset.machine)));
// A machine's kiosk page posts this when its QR is clicked (only when framed, as here): scan that machine.
window.addEventListener("message", (event) => {
  if (!event.data || event.data.type !== "seqr-vend:qr-click") return;
  const frame = [...document.querySelectorAll("section.machine iframe")].find((f) => f.contentWindow === event.source);
  if (frame) scan(frame.closest("section").dataset.machine);
});
const flow = document.getElementById("flow");
function addLine(line) {
  const div = document.createElement("div");
  div.className = line.level;
  // HH:MM:SS in a column of its own width: a locale's "9:05:01 AM" would shift every line after it.
  const time = document.createElement("span"); time.className = "time";
  time.textContent = new Date(line.time || Date.now()).toTimeString().slice(0, 8);
  const who = document.createElement("span"); who.className = "who"; who.textContent = line.process;
  div.append(time, who, " " + line.msg + (line.detail ? " " + line.detail : ""));
  flow.append(div);
  flow.scrollTop = flow.scrollHeight;
}
const events = new EventSource("events");
events.onmessage = (event) => addLine(JSON.parse(event.data));
</script>
</body>
</html>`;
}

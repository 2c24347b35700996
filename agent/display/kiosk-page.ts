/**
 * The kiosk page: one self-contained HTML document (no build step, no external assets, no fonts to fetch) that shows
 * the machine's current screen full-screen and follows it live over server-sent events. Chromium runs it in kiosk mode
 * on the machine's HDMI or DSI screen; the demo embeds the same page once per machine (all URLs are relative, so it
 * works under any path prefix).
 *
 * The server sends `screen` events: { screen, qrSvg, serverNow }. The QR arrives as a ready SVG (the page has no QR
 * encoder), the countdown ticks locally from the deadline corrected by the server's clock. When the stream is lost the
 * page stops showing the QR after a few seconds: a customer must not pay a machine that is not there.
 */

import { escapeHtml } from "../../platform/html.ts";

export interface KioskPageOptions {
  /** Document title (the demo shows the machine id). */
  title?: string;
}

export function kioskPageHtml(options: KioskPageOptions = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title ?? "SEQR vending")}</title>
<link rel="icon" href="data:,">
<style>
  /*
   * Sized for 7" panels (800x480, 1024x600; about 5.3 and 6.7 px per mm): customer text at least 4vmin (3.5 mm), the
   * machine's small print at least 2.4vmin (2 mm), touch targets at least 10.5vmin (9 mm) both ways.
   */
  :root { --ink: #111; --busy: #003c96; --success: #006e28; --error: #aa0000; --paper: #fff; }
  * { box-sizing: border-box; }
  html, body { margin: 0; height: 100%; background: var(--paper); color: var(--ink); overflow: hidden;
    font-family: system-ui, "DejaVu Sans", "Liberation Sans", Arial, sans-serif; cursor: none; user-select: none; }
  main { height: 100vh; display: flex; flex-direction: column; align-items: center; justify-content: center;
    gap: 2.5vmin; padding: 3vmin; text-align: center; border-top: 1.5vmin solid var(--tone, var(--ink)); }
  main[data-tone="busy"] { --tone: var(--busy); }
  main[data-tone="success"] { --tone: var(--success); }
  main[data-tone="error"] { --tone: var(--error); }
  h1 { margin: 0; font-size: clamp(28px, 8vmin, 120px); line-height: 1.1; color: var(--tone, var(--ink)); }
  #qr { display: none; width: min(62vh, 88vw); aspect-ratio: 1; background: #fff; }
  #qr svg { width: 100%; height: 100%; display: block; }
  main.has-qr #qr { display: block; }
  main.has-qr h1 { font-size: clamp(24px, 6vmin, 90px); }
  /* The selection-first pay screen also has a countdown and Cancel under its QR: a smaller code leaves them room. */
  main.has-qr[data-screen="pay-for-selection"] #qr { width: min(46vh, 88vw); }
  .lines p { margin: 0.4vmin 0; font-size: clamp(18px, 4.5vmin, 64px); }
  #countdown { font-size: clamp(18px, 4.5vmin, 56px); font-variant-numeric: tabular-nums; color: var(--busy); }
  /* Columns wide enough for a product name on one line (16em); a narrow screen or frame gets one column. */
  #products { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 16em), 1fr)); gap: 2vmin;
    width: 100%; max-width: 1400px; font-size: clamp(18px, 4.5vmin, 48px); }
  #products button { font: inherit; padding: 2vmin; border: 0.4vmin solid var(--ink);
    border-radius: 2vmin; background: #f4f4f4; color: var(--ink); display: grid; grid-template-columns: auto 1fr auto;
    align-items: center; gap: 2vmin; text-align: left; min-height: 10.5vmin; }
  #products button .name { min-width: 0; overflow-wrap: normal; }
  #products button .sel { font-weight: bold; }
  #products button.over { opacity: 0.45; border-style: dashed; }
  #products button .why { grid-column: 1 / -1; font-size: 0.9em; }
  #products button .price { white-space: nowrap; }
  #done, #cancel { font: inherit; font-size: clamp(16px, 4.5vmin, 40px); padding: 1.5vmin 5vmin; border-radius: 2vmin;
    min-height: 10.5vmin; min-width: 10.5vmin;
    border: 0.4vmin solid var(--ink); background: var(--paper); }
  footer { position: fixed; bottom: 1vmin; right: 2vmin; font-size: clamp(10px, 2.4vmin, 20px); color: #666; }
  #offline { position: fixed; inset: 0; display: none; background: #fff; align-items: center; justify-content: center;
    font-size: clamp(24px, 6vmin, 80px); color: var(--error); }
  body.offline #offline { display: flex; }
  /* Framed (the demo page), the visitor uses a mouse: no hidden pointer there; a kiosk touch screen has no frame. */
  html.framed body { cursor: auto; }
  html.framed button, html.framed #qr { cursor: pointer; }
</style>
</head>
<body>
<main id="screen" data-screen="starting" data-tone="busy">
  <h1 id="title">Starting...</h1>
  <div id="qr" role="img" aria-label="SEQR QR code"></div>
  <div class="lines" id="lines"></div>
  <div id="countdown" hidden></div>
  <div id="products" hidden></div>
  <button id="done" type="button" hidden>Done</button>
  <button id="cancel" type="button" hidden>Cancel</button>
</main>
<footer id="footer"></footer>
<div id="offline" role="alert">Out of service</div>
<script>
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  if (window.parent !== window) document.documentElement.classList.add("framed");
  let current = null;
  let clockOffset = 0;
  let offlineTimer = null;

  function text(tag, value, className) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (className) el.className = className;
    return el;
  }

  function post(path, body) {
    // JSON content type: a cross-origin page cannot send it without a preflight this server never answers.
    fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
      .catch(() => {});
  }

  function tick() {
    if (!current || !current.countdown) return;
    const left = Math.max(0, Math.ceil((current.countdown.deadline - (Date.now() + clockOffset)) / 1000));
    $("countdown").textContent = left + " s left";
  }

  function render(message) {
    const screen = message.screen;
    current = screen;
    clockOffset = message.serverNow - Date.now();
    const main = $("screen");
    main.dataset.screen = screen.name;
    main.dataset.tone = screen.tone;
    main.classList.toggle("has-qr", Boolean(message.qrSvg));
    $("title").textContent = screen.title;
    $("qr").innerHTML = message.qrSvg || "";
    $("qr").dataset.payload = screen.qr ? screen.qr.payload : "";
    $("lines").replaceChildren(...screen.lines.map((line) => text("p", line)));
    $("countdown").hidden = !screen.countdown;
    const products = screen.products || [];
    const overBudget = screen.overBudget || [];
    $("products").hidden = products.length + overBudget.length === 0;
    const button = (product, over) => {
      const el = document.createElement("button");
      el.type = "button";
      el.dataset.selection = product.selection;
      el.append(text("span", product.selection, "sel"), text("span", product.name, "name"), text("span", product.priceText, "price"));
      if (over) {
        // Greyed and inert: the customer sees it is there and why it cannot be chosen now.
        el.disabled = true;
        el.className = "over";
        el.append(text("span", "over your budget", "why"));
      } else {
        el.addEventListener("click", () => post("select", { selection: product.selection }));
      }
      return el;
    };
    $("products").replaceChildren(...products.map((p) => button(p, false)), ...overBudget.map((p) => button(p, true)));
    $("done").hidden = screen.name !== "choose-product";
    $("cancel").hidden = screen.name !== "payment-pending" && screen.name !== "pay-for-selection";
    $("footer").textContent = screen.footer;
    tick();
  }

  $("done").addEventListener("click", () => post("done", {}));
  $("cancel").addEventListener("click", () => post("cancel", {}));
  // Framed by the demo page, clicking the QR stands for scanning it with a phone; a kiosk has no parent frame.
  $("qr").addEventListener("click", () => {
    if (window.parent !== window && $("qr").dataset.payload) {
      window.parent.postMessage({ type: "seqr-vend:qr-click", payload: $("qr").dataset.payload }, "*");
    }
  });
  setInterval(tick, 250);

  const source = new EventSource("events");
  source.addEventListener("screen", (event) => render(JSON.parse(event.data)));
  source.addEventListener("open", () => {
    clearTimeout(offlineTimer);
    offlineTimer = null;
    document.body.classList.remove("offline");
  });
  source.addEventListener("error", () => {
    // EventSource reconnects by itself; only a lasting loss hides the QR.
    if (offlineTimer === null) offlineTimer = setTimeout(() => document.body.classList.add("offline"), 5000);
  });
})();
</script>
</body>
</html>
`;
}

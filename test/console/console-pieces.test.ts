import { describe, expect, it } from "vitest";
import { readCookie, sessionCookie } from "../../backend-bridge/console/cookies.ts";
import { escapeHtml, html } from "../../backend-bridge/console/html.ts";
import { LoginThrottle } from "../../backend-bridge/console/login-throttle.ts";
import { isSameOrigin } from "../../backend-bridge/console/same-origin.ts";
import { ConsoleSessions, csrfTokenMatches } from "../../backend-bridge/console/sessions.ts";

describe("escaping", () => {
  it("escapes the five characters that end text or an attribute", () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
  });

  it("escapes every interpolated value, in lists too, but not fragments the tag built", () => {
    const name = "<script>alert(1)</script>";
    const out = html`<td title="${'" onmouseover="x'}">${name}</td>${[name, html`<b>${"&"}</b>`]}`.text;
    expect(out).toBe(
      '<td title="&quot; onmouseover=&quot;x">&lt;script&gt;alert(1)&lt;/script&gt;</td>' +
        "&lt;script&gt;alert(1)&lt;/script&gt;<b>&amp;</b>",
    );
  });

  it("writes nothing for null and undefined, and numbers as they are", () => {
    expect(html`${null}|${undefined}|${0}|${12.5}`.text).toBe("||0|12.5");
  });
});

describe("console sessions", () => {
  const limits = { idleMs: 1_000, absoluteMs: 5_000 };

  it("ends a session left idle for the idle time", () => {
    const sessions = new ConsoleSessions(limits);
    const session = sessions.create("ops", 0);
    expect(sessions.use(session.id, 999)?.operator).toBe("ops");
    expect(sessions.use(session.id, 1_998)).toBeDefined();
    expect(sessions.use(session.id, 2_998)).toBeUndefined();
    expect(sessions.use(session.id, 2_999)).toBeUndefined();
  });

  it("ends a session at its absolute time even when used all along", () => {
    const sessions = new ConsoleSessions(limits);
    const session = sessions.create("ops", 0);
    for (let at = 900; at < 5_000; at += 900) expect(sessions.use(session.id, at)).toBeDefined();
    expect(sessions.use(session.id, 5_000)).toBeUndefined();
  });

  it("gives each session its own random id and token, and knows no other id", () => {
    const sessions = new ConsoleSessions(limits);
    const a = sessions.create("ops", 0);
    const b = sessions.create("ops", 0);
    expect(a.id).not.toBe(b.id);
    expect(a.csrfToken).not.toBe(b.csrfToken);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sessions.use("made-up", 0)).toBeUndefined();
    expect(sessions.use(undefined, 0)).toBeUndefined();
    sessions.end(a.id);
    expect(sessions.use(a.id, 1)).toBeUndefined();
  });

  it("accepts only the session's own CSRF token", () => {
    const sessions = new ConsoleSessions(limits);
    const a = sessions.create("ops", 0);
    const b = sessions.create("ops", 0);
    expect(csrfTokenMatches(a, a.csrfToken)).toBe(true);
    expect(csrfTokenMatches(a, b.csrfToken)).toBe(false);
    expect(csrfTokenMatches(a, undefined)).toBe(false);
    expect(csrfTokenMatches(a, "")).toBe(false);
  });
});

describe("login throttle", () => {
  const limits = { failures: 3, windowMs: 10_000 };

  it("refuses a name after its failures within the window, until the oldest leaves it", () => {
    const throttle = new LoginThrottle(limits);
    throttle.failed("ops", "a1", 0);
    throttle.failed("ops", "a2", 1_000);
    expect(throttle.waitMs("ops", "a3", 1_500)).toBe(0);
    throttle.failed("ops", "a3", 2_000);
    expect(throttle.waitMs("ops", "a4", 2_000)).toBe(8_000);
    expect(throttle.waitMs("other", "a4", 2_000)).toBe(0);
    expect(throttle.waitMs("ops", "a4", 10_000)).toBe(0);
  });

  it("refuses an address that tried many names", () => {
    const throttle = new LoginThrottle(limits);
    for (const name of ["a", "b", "c"]) throttle.failed(name, "10.0.0.9", 0);
    expect(throttle.waitMs("d", "10.0.0.9", 1)).toBe(9_999);
    expect(throttle.waitMs("d", "10.0.0.8", 1)).toBe(0);
  });

  it("forgets a name's failures once its operator logs in", () => {
    const throttle = new LoginThrottle(limits);
    throttle.failed("ops", "a1", 0);
    throttle.failed("ops", "a2", 0);
    throttle.succeeded("ops");
    throttle.failed("ops", "a3", 0);
    expect(throttle.waitMs("ops", "a4", 0)).toBe(0);
  });
});

describe("same origin", () => {
  const own = { host: "127.0.0.1:9464", origin: "http://127.0.0.1:9464" };

  it("accepts the console's own origin, with or without Sec-Fetch-Site", () => {
    expect(isSameOrigin(own, "http")).toBe(true);
    expect(isSameOrigin({ ...own, "sec-fetch-site": "same-origin" }, "http")).toBe(true);
  });

  it("refuses another origin, a missing origin, the wrong scheme and a cross-site or same-site fetch", () => {
    expect(isSameOrigin({ ...own, origin: "http://evil.example" }, "http")).toBe(false);
    expect(isSameOrigin({ host: own.host }, "http")).toBe(false);
    expect(isSameOrigin({ ...own, origin: "null" }, "http")).toBe(false);
    expect(isSameOrigin(own, "https")).toBe(false);
    expect(isSameOrigin({ ...own, "sec-fetch-site": "cross-site" }, "http")).toBe(false);
    expect(isSameOrigin({ ...own, "sec-fetch-site": "same-site" }, "http")).toBe(false);
  });
});

describe("session cookie", () => {
  it("is HttpOnly and SameSite=Strict, Secure with the __Host- prefix over TLS only", () => {
    expect(sessionCookie("abc", false, 60)).toBe("console=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60");
    expect(sessionCookie("abc", true, 60)).toBe(
      "__Host-console=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure",
    );
  });

  it("is read back from a Cookie header among others", () => {
    expect(readCookie("a=1; console=xyz; b=2", "console")).toBe("xyz");
    expect(readCookie("xconsole=1", "console")).toBeUndefined();
    expect(readCookie(undefined, "console")).toBeUndefined();
  });
});

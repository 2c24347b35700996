import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { checkCaller } from "../../backend-bridge/http/caller-auth.ts";
import type { BridgeConfig } from "../../config/schema/bridge.ts";

/**
 * checkCaller on its own, with the request reduced to what it reads: the Authorization header and the socket (a TLS
 * socket's authorized flag and peer certificate). create-purchase.test.ts and caller-rate-limits.test.ts cover the
 * same through the HTTP server.
 */
type Auth = BridgeConfig["callerAuth"];
const basicAuth = (overrides: Partial<Auth> = {}): Auth => ({
  mode: "basic",
  username: "pos",
  password: "pos-password-1",
  allowedCertificateCns: [],
  ...overrides,
});
const certificateAuth = (allowedCertificateCns: string[]): Auth => ({
  mode: "client-certificate",
  allowedCertificateCns,
});

const withHeader = (authorization?: string) =>
  ({ headers: authorization === undefined ? {} : { authorization }, socket: {} }) as unknown as IncomingMessage;
const basic = (credentials: string) => `Basic ${Buffer.from(credentials, "utf8").toString("base64")}`;
const withCertificate = (authorized: boolean, certificate: { subject?: { CN?: string | string[] } }) =>
  ({ headers: {}, socket: { authorized, getPeerCertificate: () => certificate } }) as unknown as IncomingMessage;

describe("createPurchase caller authentication (checkCaller)", () => {
  it("mode none lets every caller in as anonymous", () => {
    expect(checkCaller(withHeader(), { mode: "none", allowedCertificateCns: [] })).toEqual({
      ok: true,
      caller: "anonymous",
    });
  });

  it("basic: the right user and password, named as the caller", () => {
    expect(checkCaller(withHeader(basic("pos:pos-password-1")), basicAuth())).toEqual({
      ok: true,
      caller: "basic:pos",
    });
    // Surrounding spaces are not part of the credentials; the scheme is case-insensitive.
    expect(checkCaller(withHeader(`  ${basic("pos:pos-password-1")}  `), basicAuth()).ok).toBe(true);
    expect(checkCaller(withHeader(basic("pos:pos-password-1").replace("Basic", "basic")), basicAuth()).ok).toBe(true);
  });

  it("basic: no header, another scheme, or text around the credentials asks for credentials (401)", () => {
    const required = { ok: false, status: 401, reason: "basic credentials required" };
    const valid = basic("pos:pos-password-1");
    for (const header of [undefined, "", "Bearer abc", `x${valid}`, `${valid} x`, "Basic "]) {
      expect(checkCaller(withHeader(header), basicAuth()), String(header)).toEqual(required);
    }
  });

  it("basic: a wrong user or password is refused (401)", () => {
    const wrong = { ok: false, status: 401, reason: "wrong basic credentials" };
    for (const credentials of ["pos:other-password", "other:pos-password-1", "pos", "pos:pos-password-1x"]) {
      expect(checkCaller(withHeader(basic(credentials)), basicAuth()), credentials).toEqual(wrong);
    }
  });

  it("basic: the user ends at the first colon; without one the whole text is the user and the password is empty", () => {
    const auth = basicAuth({ username: "", password: "with:colon" });
    expect(checkCaller(withHeader(basic(":with:colon")), auth)).toEqual({ ok: true, caller: "basic:" });
    const emptyPassword = basicAuth({ username: "pos", password: "" });
    expect(checkCaller(withHeader(basic("pos")), emptyPassword)).toEqual({ ok: true, caller: "basic:pos" });
    expect(checkCaller(withHeader(basic("po")), emptyPassword).ok).toBe(false);
  });

  it("basic: a missing username is the empty one; a missing password refuses every caller, even an empty password", () => {
    const noUsername: Auth = { mode: "basic", password: "pos-password-1", allowedCertificateCns: [] };
    expect(checkCaller(withHeader(basic(":pos-password-1")), noUsername)).toEqual({ ok: true, caller: "basic:" });
    const noPassword: Auth = { mode: "basic", username: "pos", allowedCertificateCns: [] };
    for (const credentials of ["pos:", "pos"]) {
      expect(checkCaller(withHeader(basic(credentials)), noPassword), credentials).toEqual({
        ok: false,
        status: 401,
        reason: "wrong basic credentials",
      });
    }
  });

  it("client certificate: required, and verified against http.caFile (403 otherwise)", () => {
    const required = { ok: false, status: 403, reason: "a client certificate signed by http.caFile is required" };
    // A plain socket has no peer certificate at all.
    expect(checkCaller(withHeader(), certificateAuth([]))).toEqual(required);
    expect(checkCaller(withCertificate(false, { subject: { CN: "pos-1" } }), certificateAuth([]))).toEqual(required);
  });

  it("client certificate: the CN must be in the allowed list when there is one", () => {
    const allowed = certificateAuth(["pos-1", "pos-2"]);
    expect(checkCaller(withCertificate(true, { subject: { CN: "pos-2" } }), allowed)).toEqual({
      ok: true,
      caller: "certificate:pos-2",
    });
    expect(checkCaller(withCertificate(true, { subject: { CN: ["pos-1", "x"] } }), allowed)).toEqual({
      ok: true,
      caller: "certificate:pos-1",
    });
    expect(checkCaller(withCertificate(true, { subject: { CN: "pos-3" } }), allowed)).toEqual({
      ok: false,
      status: 403,
      reason: 'client certificate CN "pos-3" is not allowed',
    });
    expect(checkCaller(withCertificate(true, {}), allowed)).toEqual({
      ok: false,
      status: 403,
      reason: "client certificate CN undefined is not allowed",
    });
  });

  it("client certificate: with no allowed list every certificate signed by the CA is let in", () => {
    expect(checkCaller(withCertificate(true, { subject: { CN: "pos-9" } }), certificateAuth([]))).toEqual({
      ok: true,
      caller: "certificate:pos-9",
    });
    expect(checkCaller(withCertificate(true, {}), certificateAuth([]))).toEqual({ ok: true, caller: "certificate:" });
  });
});

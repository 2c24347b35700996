/**
 * The protections a bridge test turns off on purpose, in one place. Since issue 18 none of them is a default: a
 * bridge from the required keys alone serves HTTPS and MQTT over TLS, authenticates createPurchase callers and keeps
 * /metrics on loopback. Tests on loopback want plain HTTP, plain MQTT and no caller auth unless they test those, so
 * each config builder merges these explicit choices under its own keys (its own keys win).
 */
export function testOnlyInsecureChoices(mqttPort = 0): Record<string, unknown> {
  return {
    http: { plainHttp: true },
    callerAuth: { mode: "none" },
    broker: { mode: "embedded", tcp: { enabled: true, host: "127.0.0.1", port: mqttPort }, tls: { enabled: false } },
    admin: { host: "127.0.0.1", port: 0 },
  };
}

/** `extra` over `base`, mapping by mapping; arrays and scalars of `extra` replace those of `base`. */
export function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] =
      value && typeof value === "object" && !Array.isArray(value) && current && typeof current === "object"
        ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/** Only the keys a bridge requires, plus the test's explicit insecure choices: the smallest config that starts. */
export function minimalTestBridgeConfig(): Record<string, unknown> {
  return deepMerge(testOnlyInsecureChoices(), {
    http: { publicBaseUrl: "https://vend.example.com/seqr" },
    seqr: { endpointUrl: "https://seqr.example.com/soap", terminalId: "T1", password: "s3cret-seqr-password" },
  });
}

import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createFleet } from "../../backend-bridge/fleet/start-fleet.ts";
import { bridgeConfigSchema } from "../../config/schema/bridge.ts";
import { silentLogger } from "../../platform/logger.ts";
import { verifyCommandSignature } from "../../protocol/signing.ts";
import { waitFor } from "../broker/helpers.ts";
import { testOnlyInsecureChoices } from "../helpers/bridge-test-config.ts";
import { FakeAgent } from "./fake-agent.ts";

describe("createFleet from the bridge's configuration (embedded broker)", () => {
  it("starts the broker with the configured machines, connects the link, and signs with the configured keys", async () => {
    const commandKey = randomBytes(32).toString("hex");
    const config = bridgeConfigSchema.parse({
      ...testOnlyInsecureChoices(),
      http: { plainHttp: true, publicBaseUrl: "https://vend.example.com/seqr" },
      seqr: { endpointUrl: "https://extdev.seqr.com/soap", terminalId: "T1", password: "secret-pw" },
      broker: { mode: "embedded", tcp: { enabled: true, host: "127.0.0.1", port: 0 }, tls: { enabled: false } },
      machines: {
        M7: {
          mqttPassword: "machine-seven-password",
          commandKey,
          catalog: { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } },
        },
      },
    });
    const fleet = await createFleet(config, { logger: silentLogger() });
    let agent: FakeAgent | undefined;
    try {
      await fleet.link.start();
      expect(fleet.link.isConnected()).toBe(true);
      const url = `mqtt://127.0.0.1:${fleet.broker?.tcpPort}`;
      agent = await FakeAgent.connect(url, "vending/v1", "M7", { username: "M7", password: "machine-seven-password" });
      await fleet.link.send("M7", "unlock", { sessionId: "S1", budgetMinor: 300, currency: "EUR" });
      await waitFor(() => agent?.commands.length === 1, 3_000, "the unlock");
      expect(verifyCommandSignature(commandKey, "M7", "unlock", agent.commands[0]?.payload ?? {})).toBe(true);
    } finally {
      await agent?.close();
      await fleet.close();
    }
  });
});

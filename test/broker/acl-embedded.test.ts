import { afterAll, beforeAll, describe } from "vitest";
import type { EmbeddedBroker } from "../../backend-bridge/broker/embedded-broker.ts";
import { InMemoryMachineCredentials } from "../../backend-bridge/broker/machine-credentials.ts";
import { hashMachineSecret } from "../../backend-bridge/broker/machine-secret.ts";
import { aclSuite } from "./acl-suite.ts";
import { bridgeUser, startTestBroker } from "./helpers.ts";

/** The ACL behaviour suite against the embedded aedes, machines stored as the store keeps them ($7$ hashes). */
const passwords = { M1: "password-of-m1-embedded", M2: "password-of-m2-embedded" };

describe("ACL suite: embedded broker", () => {
  let broker: EmbeddedBroker;

  beforeAll(async () => {
    const credentials = new InMemoryMachineCredentials();
    for (const [id, password] of Object.entries(passwords)) {
      credentials.set(id, { passwordHash: hashMachineSecret(password) });
    }
    broker = await startTestBroker({ credentials });
  });
  afterAll(async () => {
    await broker?.close();
  });

  aclSuite({
    url: () => `mqtt://127.0.0.1:${broker.tcpPort}`,
    root: "vending/v1",
    password: (id) => passwords[id],
    bridge: { username: bridgeUser.username, password: bridgeUser.password },
    behaviour: {
      refusedLogin: { wrongPassword: 4, unknownUser: 4, anonymous: 5 },
      forbiddenPublish: "closes the connection",
      forbiddenSubscribe: "refused with SUBACK 128",
      foreignWill: "refused at CONNECT (5)",
      retainedEvent: "refused, connection closed",
      foreignClientId: "refused (2)",
      bridgeScope: "every topic but $SYS",
    },
  });
});

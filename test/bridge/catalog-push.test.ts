import { expect, it } from "vitest";
import { type Catalog, catalogHash } from "../../protocol/catalog.ts";
import { machineStateWith } from "./helpers/fake-fleet.ts";
import { describeEachStore, type Harness, machineKey } from "./helpers/harness.ts";

/**
 * Issue 22, the catalog page: a catalog changed in the console reaches the machine as a signed `cmd/config`. Machines
 * use clean sessions, so a command sent while one is offline (or refused while it is busy) is lost: the bridge sends
 * the catalog again when the machine comes back online, and when its retained state shows it idle with another
 * catalog's hash. A machine that reports the catalog's hash has it and is not sent it again.
 */

const first: Catalog = { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 150 } } };
const second: Catalog = { currency: "EUR", products: { A1: { name: "Water", sku: "W", priceMinor: 120 } } };

async function editedS1(h: Harness): Promise<void> {
  await h.app.registry.add("S1", { name: "Store machine", commandKey: machineKey, catalog: first });
  await h.app.catalogs.change("S1", second, "ops");
}

const configsTo = (h: Harness) => h.fleet.commands("config", "S1");

describeEachStore("pushing a changed catalog", (start) => {
  it("a change is pushed at once as cmd/config with the new catalog", async () => {
    const h = await start();
    h.fleet.setOnline("S1");
    await editedS1(h);
    expect(configsTo(h).map((command) => command.body.catalog)).toEqual([second]);
  });

  it("a machine offline when its catalog changed gets cmd/config again when it reconnects", async () => {
    const h = await start();
    await editedS1(h);
    const sentWhileOffline = configsTo(h).length;
    h.fleet.setOnline("S1");
    await h.quiesce();
    expect(configsTo(h).length).toBe(sentWhileOffline + 1);
    expect(configsTo(h).at(-1)?.body.catalog).toEqual(second);
  });

  it("a machine that reports the catalog's hash is not sent it again on reconnect", async () => {
    const h = await start();
    await editedS1(h);
    h.fleet.setState("S1", machineStateWith(catalogHash(second)));
    const sent = configsTo(h).length;
    h.fleet.setOnline("S1");
    await h.quiesce();
    expect(configsTo(h).length).toBe(sent);
  });

  it("a config refused while a session was open goes again once the state shows the machine idle", async () => {
    const h = await start();
    h.fleet.setOnline("S1");
    const session = { sessionId: "s-1", phase: "vending", budgetMinor: 500, spentMinor: 0, currency: "EUR" } as const;
    h.fleet.setState("S1", machineStateWith(catalogHash(first), session));
    await editedS1(h);
    const sent = configsTo(h).length;
    h.fleet.setState("S1", machineStateWith(catalogHash(first), session));
    await h.quiesce();
    expect(configsTo(h).length).toBe(sent);
    h.fleet.setState("S1", machineStateWith(catalogHash(first)));
    await h.quiesce();
    expect(configsTo(h).length).toBe(sent + 1);
    // Taken: the state shows the new hash, nothing more is sent.
    h.fleet.setState("S1", machineStateWith(catalogHash(second)));
    await h.quiesce();
    expect(configsTo(h).length).toBe(sent + 1);
  });

  it("an older agent, whose state carries no catalog hash, gets the catalog once per reconnect, not after every session", async () => {
    const h = await start();
    h.fleet.setOnline("S1");
    const session = { sessionId: "s-1", phase: "vending", budgetMinor: 500, spentMinor: 0, currency: "EUR" } as const;
    h.fleet.setState("S1", machineStateWith(undefined));
    await editedS1(h);
    const sent = configsTo(h).length;
    for (let sale = 0; sale < 3; sale++) {
      h.fleet.setState("S1", machineStateWith(undefined, session));
      h.fleet.setState("S1", machineStateWith(undefined));
      await h.quiesce();
    }
    expect(configsTo(h).length).toBe(sent);
    h.fleet.setOnline("S1", false);
    h.fleet.setOnline("S1");
    await h.quiesce();
    expect(configsTo(h).length).toBe(sent + 1);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MachineState } from "../../protocol/messages.ts";
import type { Harness } from "../bridge/helpers/harness.ts";
import { ConsoleClient, startConsoleBridge } from "./console-client.ts";

const minute = 60_000;

function stateOf(version: string): MachineState {
  return {
    screen: "idle",
    session: null,
    hardware: { driver: "spiral", link: "up" },
    lastFault: { code: "spiral-jammed", message: "selection A2: the spiral jammed", ts: 1 },
    versions: { agent: version, contract: 1 },
    ts: 1,
  };
}

/**
 * The fleet page's facts and filters (GET query parameters), a machine's page and the alarms on every page, over
 * HTTP against a bridge in the harness (fake fleet, manual clock): M1 "Lobby" online, M2 gone offline and flagged
 * out of service.
 */
describe("fleet and machine pages over HTTP", () => {
  let h: Harness;
  let flagged: string;
  let client: ConsoleClient;

  beforeAll(async () => {
    ({ h, flagged } = await startConsoleBridge());
    h.fleet.states.set("M1", stateOf("1.4.2"));
    h.fleet.states.set("M2", stateOf("1.3.0"));
    await h.app.alarms.evaluate();
    await h.clock.advance(minute);
    h.fleet.setOnline("M2", false);
    await h.store.setMachineUnavailable("M2", "fault:mdb-reader-disabled", h.clock.now());
    await h.clock.advance(10 * minute);
    await h.app.alarms.evaluate();
    client = new ConsoleClient(h.app.admin.url);
    await client.login();
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  const rowsOf = (page: string) => [...page.matchAll(/<tr data-machine="([^"]+)"/g)].map((match) => match[1]);

  async function page(path: string, status = 200): Promise<string> {
    const response = await client.get(path);
    expect(response.status, path).toBe(status);
    return response.text();
  }

  it("shows each machine's link with since when, screen, hardware, last fault, versions and out-of-service reason", async () => {
    const fleet = await page("/console/fleet");
    expect(rowsOf(fleet)).toEqual(["M1", "M2"]);
    const m1 = fleet.slice(fleet.indexOf('data-machine="M1"'), fleet.indexOf('data-machine="M2"'));
    expect(m1).toContain("since bridge start");
    expect(m1).toContain("agent 1.4.2");
    expect(m1).toContain("contract 1");
    expect(m1).toContain("spiral-jammed: selection A2: the spiral jammed");
    const m2 = fleet.slice(fleet.indexOf('data-machine="M2"'));
    expect(m2).toContain('class="offline"');
    expect(m2).toContain(`since ${new Date(h.clock.now() - 10 * minute).toISOString()}`);
    expect(m2).toContain("fault:mdb-reader-disabled");
    expect(m2).toContain('href="/console/machines/M2"');
  });

  it("filters by link, out of service and text on id or name, as GET parameters kept in the form", async () => {
    expect(rowsOf(await page("/console/fleet?link=online"))).toEqual(["M1"]);
    expect(rowsOf(await page("/console/fleet?link=offline"))).toEqual(["M2"]);
    expect(rowsOf(await page("/console/fleet?oos=1"))).toEqual(["M2"]);
    expect(rowsOf(await page("/console/fleet?q=lob"))).toEqual(["M1"]);
    expect(rowsOf(await page("/console/fleet?q=m2"))).toEqual(["M2"]);
    expect(rowsOf(await page("/console/fleet?q=nothing"))).toEqual([]);
    const kept = await page("/console/fleet?link=offline&q=M");
    expect(kept).toContain('<option value="offline" selected>');
    expect(kept).toContain('name="q" value="M"');
    const refused = await page("/console/fleet?link=sideways", 400);
    expect(refused).toContain('role="alert"');
  });

  it("shows the active alarms in a banner on every page and listed on the fleet page", async () => {
    for (const path of ["/console/fleet", "/console/purchases", "/console/sales", "/console/machines/M1"]) {
      const body = await page(path);
      expect(body, path).toMatch(/<a class="alarm-banner" href="\/console\/fleet#alarms">1 active alarm<\/a>/);
    }
    const fleet = await page("/console/fleet");
    expect(fleet).toContain('id="alarms"');
    expect(fleet).toContain('data-alarm="machine-offline:M2"');
  });

  it("shows a machine's facts, recent purchases, events from the audit log, open alarms and DEX export", async () => {
    const m1 = await page("/console/machines/M1");
    expect(m1).toContain("Lobby");
    expect(m1).toContain(`href="/console/purchases/${flagged}"`);
    expect(m1).toContain("reconcile:unknown-vend");
    expect(m1).toContain('href="/console/machines/M1/dex"');
    expect(m1).toContain("No open alarm");
    const m2 = await page("/console/machines/M2");
    expect(m2).toContain('data-alarm="machine-offline:M2"');
    expect(m2).toContain("No purchase matches.");
    await page("/console/machines/NOPE", 404);
  });
});

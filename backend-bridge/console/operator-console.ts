import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { selectionId } from "../../protocol/catalog.ts";
import type { AlarmMonitor } from "../alarms/alarm-monitor.ts";
import type { CatalogPush } from "../fleet/catalog-push.ts";
import type { FleetLink } from "../fleet/fleet-link.ts";
import { DexError } from "../operator/dex-counters.ts";
import { dexExport } from "../operator/dex-export.ts";
import { purchaseTimeline } from "../operator/purchases-query.ts";
import { salesCsv } from "../operator/sales-csv.ts";
import type { MachineRegistry, RegisteredMachine } from "../registry/machine-registry.ts";
import type { SeqrApi } from "../seqr/seqr-api.ts";
import type { Store } from "../store/store.ts";
import { parseCatalogForm } from "./catalog-form.ts";
import { type CatalogView, catalogListBody, catalogMachineBody, catalogPath } from "./catalog-page.ts";
import { consoleCss, consoleIcon } from "./console.css.ts";
import { ConsoleAuth, type ConsoleAuthDeps } from "./console-auth.ts";
import { type FleetRow, filterFleet, fleetBody, fleetFilter, fleetRows } from "./fleet-page.ts";
import { html } from "./html.ts";
import { BodyTooLarge, readForm, redirect, send, sendHtml } from "./http-io.ts";
import { type PageViewer, page } from "./layout.ts";
import { loginPage } from "./login-page.ts";
import { machineBody, machineHistory } from "./machine-page.ts";
import { purchaseBody } from "./purchase-page.ts";
import { purchasesBody } from "./purchases-page.ts";
import { ResolveError, reconciliationQueue, resolveReconciliation } from "./reconciliation.ts";
import { reconciliationBody } from "./reconciliation-page.ts";
import { type RefundAnswer, refundFromConsole, refundPanel } from "./refund-action.ts";
import { refundSection } from "./refund-form.ts";
import { salesBody, salesOf, salesSelection } from "./sales-page.ts";
import type { ConsoleSession } from "./sessions.ts";
import { SlotRefused, takeSlotOutOfService } from "./slot-out-of-service.ts";

export interface OperatorConsoleDeps extends ConsoleAuthDeps {
  store: Store;
  registry: Pick<MachineRegistry, "list" | "get">;
  fleet: Pick<FleetLink, "isOnline" | "lastState">;
  /** For refunds from a purchase's page (operator/refund.ts). */
  seqr: Pick<SeqrApi, "refundPayment">;
  /** The active alarms and the machines' presence since-times (absent in tests of other pages). */
  alarms?: Pick<AlarmMonitor, "active" | "presence">;
  catalogs: CatalogPush;
  clock: Clock;
  logger: Logger;
}

const purchasePath = /^\/console\/purchases\/([^/]+)$/;
const resolvePath = /^\/console\/purchases\/([^/]+)\/resolve$/;
const refundPath = /^\/console\/purchases\/([^/]+)\/refund$/;
const slotPath = /^\/console\/purchases\/([^/]+)\/slot-out-of-service$/;
const dexPath = /^\/console\/machines\/([^/]+)\/dex$/;
const machinePath = /^\/console\/machines\/([^/]+)$/;
const machineCatalogPath = /^\/console\/machines\/([^/]+)\/catalog$/;

/**
 * The web console under /console on the admin listener: login, then fleet, purchases, sales and the reconciliation
 * queue, server-rendered. A request without a live session goes to the login page (GET) or is refused with 401.
 */
export class OperatorConsole {
  readonly #deps: OperatorConsoleDeps;
  readonly auth: ConsoleAuth;

  constructor(deps: OperatorConsoleDeps) {
    this.#deps = deps;
    this.auth = new ConsoleAuth(deps);
  }

  static owns(path: string): boolean {
    return path === "/console" || path.startsWith("/console/");
  }

  async handle(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const method = request.method ?? "GET";
    if (path === "/console/console.css" && method === "GET") {
      return send(response, 200, "text/css;charset=UTF-8", consoleCss);
    }
    if (path === "/console/favicon.svg" && method === "GET") return send(response, 200, "image/svg+xml", consoleIcon);
    let form = new URLSearchParams();
    if (method === "POST") {
      try {
        form = await readForm(request);
      } catch (error) {
        if (!(error instanceof BodyTooLarge)) throw error;
        return send(response, 413, "text/plain;charset=UTF-8", "form too large");
      }
    } else request.resume();
    if (path === "/console/login") {
      if (method === "POST") return this.auth.login(request, response, form);
      if (method === "GET") return sendHtml(response, 200, loginPage());
    }
    const found = await this.auth.sessionOf(request);
    const session = found && { ...found, alarms: this.#deps.alarms?.active() };
    if (session === undefined) {
      if (method === "GET") return redirect(response, "/console/login");
      return send(response, 401, "text/plain;charset=UTF-8", "log in first");
    }
    if (method === "POST") {
      if (!this.auth.isGenuinePost(request, session, form)) {
        this.#deps.logger.warn({ operator: session.operator, path }, "console POST refused: cross-site or no token");
        return send(response, 403, "text/plain;charset=UTF-8", "refused: cross-site request or missing form token");
      }
      return this.#post(response, path, session, form);
    }
    if (method !== "GET") return send(response, 405, "text/plain;charset=UTF-8", "method not allowed");
    return this.#get(response, url, session);
  }

  async #post(response: ServerResponse, path: string, session: ConsoleSession, form: URLSearchParams): Promise<void> {
    if (path === "/console/logout") return this.auth.logout(response, session);
    const resolving = resolvePath.exec(path);
    if (resolving) {
      const sessionId = decodeURIComponent(resolving[1] as string);
      try {
        await resolveReconciliation(this.#deps.store, {
          sessionId,
          operator: session.operator,
          note: form.get("note") ?? "",
          at: this.#deps.clock.now(),
        });
      } catch (error) {
        if (!(error instanceof ResolveError)) throw error;
        return this.#purchase(response, sessionId, session, error.message, 400);
      }
      this.#deps.logger.info({ operator: session.operator, sessionId }, "reconciliation item resolved");
      return redirect(response, `/console/purchases/${encodeURIComponent(sessionId)}`);
    }
    const refunding = refundPath.exec(path);
    if (refunding) {
      const sessionId = decodeURIComponent(refunding[1] as string);
      const { store, seqr, clock, logger } = this.#deps;
      const answer = await refundFromConsole({ store, seqr, clock }, { sessionId, operator: session.operator, form });
      logger.info({ operator: session.operator, sessionId, refund: answer.notice.kind }, "console refund");
      return this.#purchase(response, sessionId, session, undefined, answer.status, answer);
    }
    const catalog = machineCatalogPath.exec(path);
    if (catalog) return this.#editCatalog(response, decodeURIComponent(catalog[1] as string), session, form);
    const slot = slotPath.exec(path);
    if (slot) return this.#takeSlotOut(response, decodeURIComponent(slot[1] as string), session, form);
    return send(response, 404, "text/plain;charset=UTF-8", "not found");
  }

  async #get(response: ServerResponse, url: URL, session: ConsoleSession): Promise<void> {
    const { store } = this.#deps;
    const path = url.pathname;
    if (path === "/console" || path === "/console/") return redirect(response, "/console/fleet");
    if (path === "/console/fleet") return this.#fleet(response, url, session);
    const machine = machinePath.exec(path);
    if (machine) return this.#machine(response, decodeURIComponent(machine[1] as string), session);
    if (path === "/console/purchases") {
      return sendHtml(response, 200, page("Purchases", session, await purchasesBody(store, url.searchParams)));
    }
    const purchase = purchasePath.exec(path);
    if (purchase) return this.#purchase(response, decodeURIComponent(purchase[1] as string), session);
    if (path === "/console/sales" || path === "/console/sales.csv") {
      const selection = salesSelection(url.searchParams);
      const report = await salesOf(store, selection);
      if (path === "/console/sales.csv" && selection.error === undefined) {
        return send(response, 200, "text/csv;charset=UTF-8", salesCsv(report), {
          "Content-Disposition": `attachment; filename="sales-by-${report.by}.csv"`,
        });
      }
      return sendHtml(response, 200, page("Sales", session, salesBody(report, url.searchParams, selection.error)));
    }
    const dex = dexPath.exec(path);
    if (dex) return this.#dex(response, decodeURIComponent(dex[1] as string));
    if (path === "/console/catalog") {
      const views = (await this.#deps.registry.list()).map((machine) => this.#catalogView(machine));
      return sendHtml(response, 200, page("Catalog", session, catalogListBody(views)));
    }
    const catalog = machineCatalogPath.exec(path);
    if (catalog) return this.#machineCatalog(response, decodeURIComponent(catalog[1] as string), session);
    if (path === "/console/reconciliation") {
      return sendHtml(
        response,
        200,
        page("Reconciliation queue", session, reconciliationBody(await reconciliationQueue(store))),
      );
    }
    return sendHtml(response, 404, page("Not found", session, html`<p>No such page.</p>`));
  }

  async #takeSlotOut(
    response: ServerResponse,
    sessionId: string,
    session: ConsoleSession,
    form: URLSearchParams,
  ): Promise<void> {
    const selection = selectionId.safeParse(form.get("selection") ?? "");
    if (!selection.success) {
      return this.#purchase(response, sessionId, session, "Choose the slot to take out of service.", 400);
    }
    try {
      await takeSlotOutOfService(this.#deps, { sessionId, selection: selection.data, operator: session.operator });
    } catch (error) {
      if (!(error instanceof SlotRefused)) throw error;
      return this.#purchase(response, sessionId, session, error.message, error.status);
    }
    this.#deps.logger.info(
      { operator: session.operator, sessionId, selection: selection.data },
      "slot taken out of service from the console",
    );
    return redirect(response, `/console/purchases/${encodeURIComponent(sessionId)}`);
  }

  async #purchase(
    response: ServerResponse,
    key: string,
    session: ConsoleSession,
    message?: string,
    status = 200,
    refundAnswer?: RefundAnswer,
  ): Promise<void> {
    const found = await purchaseTimeline(this.#deps.store, key);
    if (!found) return sendHtml(response, 404, page("Not found", session, html`<p>No purchase '${key}'.</p>`));
    const { sessionId } = found.purchase;
    const audit = await this.#deps.store.listAudit(sessionId);
    const panel = await refundPanel(this.#deps.store, sessionId);
    const refund = panel ? refundSection(sessionId, panel, session, refundAnswer) : undefined;
    return sendHtml(
      response,
      status,
      page(`Purchase ${sessionId}`, session, purchaseBody(found, audit, session, message, refund)),
    );
  }

  async #fleet(response: ServerResponse, url: URL, session: PageViewer): Promise<void> {
    const { store, registry, fleet, alarms } = this.#deps;
    const { filter, error } = fleetFilter(url.searchParams);
    const rows = filterFleet(await fleetRows(store, registry, fleet, alarms?.presence), filter);
    const body = fleetBody(rows, { filter, error, alarms: alarms?.active() ?? [] });
    return sendHtml(response, error === undefined ? 200 : 400, page("Fleet", session, body));
  }

  async #machine(response: ServerResponse, machineId: string, session: PageViewer): Promise<void> {
    const { store, registry, fleet, alarms } = this.#deps;
    const machine = await registry.get(machineId);
    if (machine === undefined) {
      return sendHtml(response, 404, page("Not found", session, html`<p>No machine '${machineId}'.</p>`));
    }
    const [row] = await fleetRows(store, { list: async () => [machine] }, fleet, alarms?.presence);
    const open = (alarms?.active() ?? []).filter((alarm) => alarm.machineId === machineId);
    const body = machineBody(row as FleetRow, await machineHistory(store, machineId), open);
    return sendHtml(response, 200, page(`Machine ${machineId}`, session, body));
  }

  #catalogView(machine: RegisteredMachine): CatalogView {
    return { machine, confirmation: this.#deps.catalogs.confirmation(machine.machineId, machine.catalog) };
  }

  async #machineCatalog(
    response: ServerResponse,
    machineId: string,
    session: ConsoleSession,
    errors: string[] = [],
    status = 200,
  ): Promise<void> {
    const machine = await this.#deps.registry.get(machineId);
    if (!machine) return sendHtml(response, 404, page("Not found", session, html`<p>No machine '${machineId}'.</p>`));
    const changes = await this.#deps.store.listMachineAudit(machineId, 20);
    const holder = await this.#deps.store.holderOf(machineId);
    const body = catalogMachineBody(
      this.#catalogView(machine),
      changes.filter((entry) => entry.reason === "catalog-changed"),
      session,
      errors,
      holder?.sessionId,
    );
    return sendHtml(response, status, page(`Catalog of ${machineId}`, session, body));
  }

  /** The edit form: validated, stored with the audit entry, pushed as cmd/config; a config-file machine is refused. */
  async #editCatalog(
    response: ServerResponse,
    machineId: string,
    session: ConsoleSession,
    form: URLSearchParams,
  ): Promise<void> {
    const machine = await this.#deps.registry.get(machineId);
    if (!machine) return send(response, 404, "text/plain;charset=UTF-8", "no such machine");
    if (machine.source !== "store") {
      const refusal = "This machine's catalog is in the config file; edit it there.";
      return this.#machineCatalog(response, machineId, session, [refusal], 409);
    }
    const earlier = (machine.catalogHistory ?? []).map((period) => period.catalog);
    const parsed = parseCatalogForm(form, machine.catalog, earlier);
    if (!parsed.ok) return this.#machineCatalog(response, machineId, session, parsed.errors, 400);
    await this.#deps.catalogs.change(machineId, parsed.catalog, session.operator);
    this.#deps.logger.info({ operator: session.operator, machineId }, "catalog changed in the console");
    return redirect(response, catalogPath(machineId));
  }

  async #dex(response: ServerResponse, machineId: string): Promise<void> {
    const { store, registry, clock } = this.#deps;
    if ((await registry.get(machineId)) === undefined) {
      return send(response, 404, "text/plain;charset=UTF-8", "no such machine");
    }
    try {
      const dex = await dexExport(store, registry, machineId, {}, clock.now());
      return send(response, 200, "text/plain;charset=US-ASCII", dex, {
        "Content-Disposition": `attachment; filename="${machineId}.dex"`,
      });
    } catch (error) {
      if (!(error instanceof DexError)) throw error;
      return send(response, 409, "text/plain;charset=UTF-8", error.message);
    }
  }
}

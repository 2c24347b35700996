import { formatMinor } from "../../platform/money.ts";
import type { Catalog } from "../../protocol/catalog.ts";
import type { ScreenName } from "../../protocol/messages.ts";
import { seqrQrPayload } from "./seqr-qr-payload.ts";

/**
 * The screen model: a pure function from what the agent is doing (`DisplayState`) to what the customer sees
 * (`Screen`). Renderers (kiosk page, framebuffer, terminal) only draw a `Screen`; none of them knows about sessions,
 * so every renderer shows the same words and the same QR for the same state.
 */

/** Why a customer was not charged: each has its own words (a decline is not a vend failure). */
export type NotChargedReason = "payment-cancelled" | "payment-timeout" | "nothing-chosen";

/** What the agent core tells the display. Amounts are integer minor units. */
export type DisplayState =
  | { screen: "starting" }
  | {
      screen: "idle";
      /**
       * The machine also sells selection first (MDB always idle): `on-machine` when the customer presses the product
       * on the vending machine's own keypad, `on-screen` when this screen is that keypad (the simulated VMC).
       */
      chooseFirst?: "on-machine" | "on-screen";
    }
  | {
      screen: "pay-for-selection";
      selection: string;
      priceMinor: number;
      currency: string;
      /** Epoch ms until which the machine holds the selection (shown as a countdown). */
      deadline: number;
    }
  | {
      screen: "payment-pending";
      amountMinor: number;
      currency: string;
      /** Epoch ms at which the machine stops waiting for the confirmation (shown as a countdown). */
      deadline?: number;
    }
  | {
      screen: "choose-product";
      budgetLeftMinor: number;
      currency: string;
      /** Epoch ms at which the selection times out. */
      deadline: number;
      /** Selections that cannot be vended now (jammed slot, out of stock). */
      unavailable?: readonly string[];
    }
  | { screen: "dispensing"; selection: string }
  | {
      screen: "thank-you";
      vendedTotalMinor: number;
      currency: string;
      /** Products of the session that did not come out (failed or unknown vends): never billed automatically. */
      notDeliveredCount?: number;
    }
  | { screen: "vend-failed"; selection?: string; detail?: string }
  /** The session ended and nothing was charged, for a reason that is not a failure of the machine. */
  | { screen: "not-charged"; why: NotChargedReason }
  | { screen: "out-of-service"; reason: string };

export interface ScreenContext {
  machine: { id: string; merchantId: string; name?: string | undefined };
  catalog: Catalog;
  /** config display.idleText */
  idleText: string;
  /** Epoch ms, for the countdown. */
  now: number;
}

export type ScreenTone = "neutral" | "busy" | "success" | "error";

export interface ScreenProduct {
  selection: string;
  name: string;
  priceMinor: number;
  priceText: string;
}

export interface Screen {
  name: ScreenName;
  tone: ScreenTone;
  /** The big line. */
  title: string;
  /** Smaller lines under it, in order. */
  lines: string[];
  /**
   * The same message in fewer words, for panels that show only about 13 characters a line at a readable size (SPI
   * panels on the framebuffer). A renderer shows either `title` and `lines` or all of this, never a mix.
   */
  compact?: { title: string; lines: string[] };
  /** The SEQR QR code to show, when the screen has one (idle). */
  qr?: { payload: string };
  /** The amount the screen is about, formatted for the customer ("2.00 EUR"). */
  amount?: { minor: number; currency: string; text: string };
  /** A selection countdown: renderers may tick it down locally between updates. */
  countdown?: { deadline: number; secondsLeft: number };
  /** Products the customer can choose (choose-product: those that fit the budget left). */
  products?: ScreenProduct[];
  /**
   * Products that are there but cost more than the budget left: shown greyed with "over your budget", never
   * selectable, so that a product does not vanish without a word after the first purchase of a multi-vend session.
   */
  overBudget?: ScreenProduct[];
  /** Small print identifying the machine, for technicians and support calls. */
  footer: string;
}

/** What a session's end screen shows, from what the session did. Pure: the agent computes the counts. */
export function sessionEndState(ended: {
  vendedCount: number;
  vendedTotalMinor: number;
  /** Failed plus unknown vends of the session. */
  notDeliveredCount: number;
  currency: string;
}): DisplayState {
  if (ended.vendedCount > 0) {
    return {
      screen: "thank-you",
      vendedTotalMinor: ended.vendedTotalMinor,
      currency: ended.currency,
      ...(ended.notDeliveredCount > 0 ? { notDeliveredCount: ended.notDeliveredCount } : {}),
    };
  }
  if (ended.notDeliveredCount > 0) return { screen: "vend-failed" };
  return { screen: "not-charged", why: "nothing-chosen" };
}

/**
 * The contract's name for a display state (the retained `state` topic): "not charged" is the design's
 * "thank you / not charged" screen, so the contract's screen names stay as they are.
 */
export function contractScreenName(state: DisplayState): ScreenName {
  return state.screen === "not-charged" ? "thank-you" : state.screen;
}

export function moneyText(minor: number, currency: string): string {
  return `${formatMinor(minor, currency)} ${currency}`;
}

export function secondsLeft(deadline: number, now: number): number {
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}

export function describeScreen(state: DisplayState, context: ScreenContext): Screen {
  const { machine, catalog } = context;
  const footer = machine.name ? `${machine.name} - ${machine.id}` : `Machine ${machine.id}`;
  switch (state.screen) {
    case "starting":
      return { name: "starting", tone: "busy", title: "Starting...", lines: ["One moment please"], footer };
    case "idle": {
      const chooseFirst = state.chooseFirst;
      return {
        name: "idle",
        tone: "neutral",
        title: "Pay with SEQR",
        lines: [context.idleText, ...(chooseFirst ? ["Or choose your product first, then pay just its price"] : [])],
        // Small panels: the QR as large as it goes, with the title alone.
        compact: { title: "Pay with SEQR", lines: [] },
        qr: { payload: seqrQrPayload(machine.merchantId, machine.id) },
        ...(chooseFirst === "on-screen" ? { products: catalogProducts(catalog) } : {}),
        footer,
      };
    }
    case "pay-for-selection": {
      const item = catalog.products[state.selection];
      const name = item?.name ?? `selection ${state.selection}`;
      const amount = {
        minor: state.priceMinor,
        currency: state.currency,
        text: moneyText(state.priceMinor, state.currency),
      };
      return {
        name: "pay-for-selection",
        tone: "busy",
        title: `Pay ${amount.text} for ${name}`,
        lines: ["Scan the code with your SEQR app"],
        compact: { title: `Pay ${amount.text}`, lines: [name] },
        qr: { payload: seqrQrPayload(machine.merchantId, machine.id) },
        amount,
        countdown: { deadline: state.deadline, secondsLeft: secondsLeft(state.deadline, context.now) },
        footer,
      };
    }
    case "payment-pending": {
      const amount = {
        minor: state.amountMinor,
        currency: state.currency,
        text: moneyText(state.amountMinor, state.currency),
      };
      return {
        name: "payment-pending",
        tone: "busy",
        title: "Confirm in your SEQR app",
        lines: [`Reserving up to ${amount.text}`, "You only pay for what you take"],
        amount,
        ...(state.deadline === undefined
          ? {}
          : { countdown: { deadline: state.deadline, secondsLeft: secondsLeft(state.deadline, context.now) } }),
        footer,
      };
    }
    case "choose-product": {
      const unavailable = new Set(state.unavailable ?? []);
      const offered = catalogProducts(catalog).filter((product) => !unavailable.has(product.selection));
      const products = offered.filter((product) => product.priceMinor <= state.budgetLeftMinor);
      const overBudget = offered.filter((product) => product.priceMinor > state.budgetLeftMinor);
      const amount = {
        minor: state.budgetLeftMinor,
        currency: state.currency,
        text: moneyText(state.budgetLeftMinor, state.currency),
      };
      return {
        name: "choose-product",
        tone: "neutral",
        title: "Choose your product",
        lines: [products.length > 0 ? `Up to ${amount.text}` : `${amount.text} left: nothing fits`],
        compact: {
          title: "Choose a product",
          lines: [products.length > 0 ? `Max ${amount.text}` : `${amount.text} left: nothing fits`],
        },
        amount,
        countdown: { deadline: state.deadline, secondsLeft: secondsLeft(state.deadline, context.now) },
        products,
        overBudget,
        footer,
      };
    }
    case "dispensing": {
      const item = catalog.products[state.selection];
      return {
        name: "dispensing",
        tone: "busy",
        title: "Dispensing...",
        lines: [item ? `${state.selection}: ${item.name}` : `Selection ${state.selection}`, "Please wait"],
        footer,
      };
    }
    case "thank-you": {
      const amount = {
        minor: state.vendedTotalMinor,
        currency: state.currency,
        text: moneyText(state.vendedTotalMinor, state.currency),
      };
      const missing = state.notDeliveredCount ?? 0;
      if (missing > 0) {
        return {
          name: "thank-you",
          tone: "success",
          title: "Partly delivered",
          lines: [
            `You paid ${amount.text} for what was delivered`,
            `${missing === 1 ? "1 product" : `${missing} products`} did not come out: not charged`,
            "Please take your products",
          ],
          compact: {
            title: "Partly delivered",
            lines: [
              `Paid ${amount.text}`,
              `${missing === 1 ? "1 product" : `${missing} products`} not delivered: not charged`,
              "Take your products",
            ],
          },
          amount,
          footer,
        };
      }
      return {
        name: "thank-you",
        tone: "success",
        title: "Thank you!",
        lines:
          state.vendedTotalMinor > 0
            ? [`You paid ${amount.text}`, "Please take your product"]
            : ["Nothing was charged"],
        amount,
        footer,
      };
    }
    case "not-charged":
      return { name: "thank-you", tone: "neutral", ...notChargedWords[state.why], footer };
    case "vend-failed":
      return {
        name: "vend-failed",
        tone: "error",
        title: "Sorry, the vend failed",
        lines: ["You have not been charged", ...(state.detail ? [state.detail] : [])],
        footer,
      };
    case "out-of-service":
      return { name: "out-of-service", tone: "error", title: "Out of service", lines: [state.reason], footer };
  }
}

/** The catalog's products as the screen lists them: in selection order, with their price text. */
function catalogProducts(catalog: Catalog): ScreenProduct[] {
  return Object.entries(catalog.products)
    .map(([selection, item]) => ({
      selection,
      name: item.name,
      priceMinor: item.priceMinor,
      priceText: moneyText(item.priceMinor, catalog.currency),
    }))
    .sort((a, b) => a.selection.localeCompare(b.selection, "en", { numeric: true }));
}

const notChargedWords: Record<NotChargedReason, { title: string; lines: string[] }> = {
  "payment-cancelled": { title: "Payment cancelled", lines: ["You have not been charged"] },
  "payment-timeout": { title: "Payment not confirmed in time", lines: ["You have not been charged"] },
  "nothing-chosen": { title: "Nothing chosen", lines: ["You have not been charged"] },
};

/**
 * What the agent core drives. `show` replaces whatever is on screen; renderers may finish asynchronously but must never
 * throw for a drawing problem that the next `show` could fix (they log it). `close` frees the screen's resources.
 */
export interface Display {
  show(screen: Screen): void | Promise<void>;
  close(): void | Promise<void>;
}

/** A display that draws nowhere (config display.renderer: none), for headless machines and tests. */
export function createNullDisplay(): Display & { readonly current: Screen | undefined } {
  let current: Screen | undefined;
  return {
    get current() {
      return current;
    },
    show: (screen) => {
      current = screen;
    },
    close: () => {},
  };
}

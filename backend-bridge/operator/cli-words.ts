import { tokenId } from "../../config/field.ts";
import { UsageError } from "../../platform/cli.ts";
import { formatMinor } from "../../platform/money.ts";
import { type PurchaseState, purchaseStates } from "../store/store.ts";
import { maxPurchaseLimit } from "./purchases-query.ts";

/** The operator commands' checks of their words, each mistake a UsageError that says what is allowed. */

export function machineArgument(value: string): string {
  if (!tokenId.safeParse(value).success) {
    throw new UsageError(`'${value}' is not a machine id: 1-32 characters of A-Z, a-z, 0-9, '.', '_' or '-'`);
  }
  return value;
}

export function stateArgument(value: string): PurchaseState {
  if (!(purchaseStates as readonly string[]).includes(value)) {
    throw new UsageError(`'${value}' is not a purchase state (${purchaseStates.join(", ")})`);
  }
  return value as PurchaseState;
}

export function limitArgument(value: string): number {
  const limit = /^\d{1,6}$/.test(value) ? Number(value) : Number.NaN;
  if (!(limit >= 1 && limit <= maxPurchaseLimit)) {
    throw new UsageError(`--limit '${value}' must be a whole number from 1 to ${maxPurchaseLimit}`);
  }
  return limit;
}

/** "1.50 EUR", or "-" when there is no amount. */
export function money(minor: number | null, currency: string): string {
  return minor === null ? "-" : `${formatMinor(minor, currency)} ${currency}`;
}

export function instant(at: number | null): string {
  return at === null ? "-" : new Date(at).toISOString();
}

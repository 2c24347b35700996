import type { ScreenContext } from "../../agent/display/screens.ts";

/** The kiosk page tests' machine: merchant acme, three products in EUR and the usual idle text, as of now. */
export function kioskContext(machine: { id: string; name: string }): ScreenContext {
  return {
    machine: { id: machine.id, merchantId: "acme", name: machine.name },
    catalog: {
      currency: "EUR",
      products: {
        A1: { name: "Water", sku: "W", priceMinor: 150 },
        A2: { name: "Cola", sku: "C", priceMinor: 200 },
        B1: { name: "Sandwich", sku: "S", priceMinor: 450 },
      },
    },
    idleText: "Scan with the SEQR app to pay",
    now: Date.now(),
  };
}

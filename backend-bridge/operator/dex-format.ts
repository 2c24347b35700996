import { currencyExponent } from "../../platform/money.ts";
import type { Counter, DexCounters } from "./dex-counters.ts";

/**
 * The EVA-DTS (DEX) audit file of one machine, from its counters (dex-counters.ts). The subset and the sources for
 * every field are in docs/dex-export.md. Segments are `*`-separated, each ends with CR LF; money is an integer in the
 * currency's minor units, the decimal point's position given once in ID4.
 */

/** Communication ID of the sender (DXS01): 3 letters and 7 digits. Not a code EVA registered (see the doc). */
export const dexSenderId = "SQV0000001";
export const dexModel = "SEQR-VEND";

/**
 * CRC-16/ARC (polynomial x^16+x^15+x^2+1, reflected as 0xA001, initial value 0) over the segments from ST up to and
 * including the CR LF before G85: what G85 carries, as four upper-case hex digits.
 */
export function dexCrc16(text: string): string {
  let crc = 0;
  for (const byte of Buffer.from(text, "latin1")) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc.toString(16).toUpperCase().padStart(4, "0");
}

/** A text element: printable ASCII only and never the element separator, so that no name can add a field or segment. */
export function dexText(value: string | null): string {
  return (value ?? "").replace(/[^\x20-\x7e]|\*/g, "_");
}

function segment(id: string, ...elements: (string | number)[]): string {
  return `${[id, ...elements].join("*")}\r\n`;
}

function utcStamp(at: number): { date: string; time: string } {
  const iso = new Date(at).toISOString();
  return { date: iso.slice(0, 10).replace(/-/g, ""), time: iso.slice(11, 19).replace(/:/g, "") };
}

function valueAndCount(counter: Counter): [number, number] {
  return [counter.valueMinor, counter.count];
}

export function formatDex(counters: DexCounters, generatedAt: number): string {
  const { date, time } = utcStamp(generatedAt);
  const machine = dexText(counters.machineId);
  const body = [
    segment("ST", "001", "0001"),
    segment("ID1", machine, dexModel, "", dexText(counters.machineName), "", machine),
    segment("ID4", currencyExponent(counters.currency), "", counters.currency),
    segment("ID5", date, time),
    segment("VA1", ...valueAndCount(counters.paid.sinceInit), ...valueAndCount(counters.paid.sinceReset)),
    segment("DA1", machine, "SEQR"),
    segment("DA2", ...valueAndCount(counters.paid.sinceInit), ...valueAndCount(counters.paid.sinceReset)),
    ...counters.products.flatMap((product) => [
      segment("PA1", dexText(product.selection), product.priceMinor, dexText(product.sku)),
      segment(
        "PA2",
        product.sinceInit.count,
        product.sinceInit.valueMinor,
        product.sinceReset.count,
        product.sinceReset.valueMinor,
      ),
    ]),
  ].join("");
  const checked = `${body}${segment("G85", dexCrc16(body))}`;
  // SE01 counts the segments of the transaction set, ST and SE included: those written so far, and SE itself.
  const segments = checked.split("\r\n").length - 1 + 1;
  return `${segment("DXS", dexSenderId, "VA", "V1/1", 1)}${checked}${segment("SE", segments, "0001")}${segment("DXE", 1, 1)}`;
}

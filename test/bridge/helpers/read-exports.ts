/**
 * Independent readers of what the operator's exports write, for the tests: an RFC 4180 CSV parser and a DEX reader
 * that checks the file's own integrity (CR LF ends, SE01 segment count, SE02 = ST02, the G85 CRC by a table-driven
 * CRC-16/ARC written apart from the exporter's bitwise one).
 */

export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ",") {
      row.push(field);
      field = "";
    } else if (char === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else if (char === "\n" || char === "\r") throw new Error(`bare line break at ${i}: RFC 4180 ends lines in CR LF`);
    else field += char;
  }
  if (field !== "" || row.length > 0) throw new Error("the last row does not end in CR LF");
  return rows;
}

const arcTable = Array.from({ length: 256 }, (_, index) => {
  let crc = index;
  for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  return crc;
});

export function crc16Arc(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = (crc >>> 8) ^ (arcTable[(crc ^ byte) & 0xff] as number);
  return crc;
}

export interface DexFile {
  segments: string[][];
  /** The elements of the first segment with this id. */
  one(id: string): string[];
  all(id: string): string[][];
}

export function readDex(text: string): DexFile {
  if (!text.endsWith("\r\n")) throw new Error("a DEX file ends in CR LF");
  const lines = text.slice(0, -2).split("\r\n");
  for (const line of lines)
    if (line.includes("\n") || line.includes("\r")) throw new Error(`bare line break in ${line}`);
  const segments = lines.map((line) => line.split("*"));
  const index = (id: string) => segments.findIndex((segment) => segment[0] === id);
  const st = index("ST");
  const g85 = index("G85");
  const se = index("SE");
  if (segments[0]?.[0] !== "DXS" || segments.at(-1)?.[0] !== "DXE") throw new Error("not DXS ... DXE");
  if (st !== 1 || g85 !== se - 1 || se !== segments.length - 2) throw new Error("not DXS, ST ... G85, SE, DXE");
  const checked = Buffer.from(
    lines
      .slice(st, g85)
      .map((line) => `${line}\r\n`)
      .join(""),
    "latin1",
  );
  const crc = crc16Arc(checked).toString(16).toUpperCase().padStart(4, "0");
  if (segments[g85]?.[1] !== crc) throw new Error(`G85 ${segments[g85]?.[1]} is not the CRC ${crc}`);
  if (Number(segments[se]?.[1]) !== se - st + 1) throw new Error(`SE01 ${segments[se]?.[1]} is not ${se - st + 1}`);
  if (segments[se]?.[2] !== segments[st]?.[2]) throw new Error("SE02 is not ST02");
  return {
    segments,
    one: (id) => {
      const found = segments.find((segment) => segment[0] === id);
      if (!found) throw new Error(`no ${id} segment`);
      return found.slice(1);
    },
    all: (id) => segments.filter((segment) => segment[0] === id).map((segment) => segment.slice(1)),
  };
}

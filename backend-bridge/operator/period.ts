/**
 * The period an operator asks about, from the command line's words: `--from` and `--to` as a day (YYYY-MM-DD) or an
 * instant (ISO 8601 with a time). A day means the whole day in the report's time zone, so `--from 2026-01-15 --to
 * 2026-01-15` is that one day: `from` is the day's first millisecond, `to` the first millisecond after the day.
 * Pure: every mistake is a PeriodError in words for the operator.
 */

export class PeriodError extends Error {}

export interface Period {
  /** Inclusive, bridge clock (ms since the epoch). */
  from?: number;
  /** Exclusive. */
  to?: number;
}

const dayPattern = /^(\d{4})-(\d{2})-(\d{2})$/;
const instantPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;
const dayMs = 86_400_000;

/** "+02:00", "-05:30", "Z" or "0" -> minutes east of UTC. */
export function parseUtcOffset(text: string): number {
  if (text === "Z" || text === "0" || text === "+00:00" || text === "-00:00") return 0;
  const match = /^([+-])(\d{2}):(\d{2})$/.exec(text);
  if (!match) throw new PeriodError(`'${text}' is not a UTC offset: write it as +HH:MM or -HH:MM (e.g. +01:00), or Z`);
  const [, sign, hours = "0", minutes = "0"] = match;
  const total = Number(hours) * 60 + Number(minutes);
  if (Number(minutes) > 59 || total > 14 * 60)
    throw new PeriodError(`'${text}' is not a UTC offset (-14:00 to +14:00)`);
  return sign === "-" ? -total : total;
}

/** The first millisecond of the named day in the time zone `offsetMinutes` east of UTC. */
function startOfDay(text: string, offsetMinutes: number): number | undefined {
  const match = dayPattern.exec(text);
  if (!match) return undefined;
  const [, year, month, day] = match.map(Number) as [number, number, number, number];
  const utc = Date.UTC(year, month - 1, day);
  const check = new Date(utc);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) {
    throw new PeriodError(`'${text}' is not a date in the calendar`);
  }
  return utc - offsetMinutes * 60_000;
}

function bound(text: string, edge: "from" | "to", offsetMinutes: number): number {
  const day = startOfDay(text, offsetMinutes);
  if (day !== undefined) return edge === "from" ? day : day + dayMs;
  if (!instantPattern.test(text)) {
    throw new PeriodError(
      `--${edge} '${text}' is not a date: write a day (2026-01-15) or an instant with its zone (2026-01-15T08:00:00Z)`,
    );
  }
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw new PeriodError(`--${edge} '${text}' is not a date in the calendar`);
  return at;
}

export function parsePeriod(words: { from?: string; to?: string }, offsetMinutes = 0): Period {
  const period: Period = {};
  if (words.from !== undefined) period.from = bound(words.from, "from", offsetMinutes);
  if (words.to !== undefined) period.to = bound(words.to, "to", offsetMinutes);
  if (period.from !== undefined && period.to !== undefined && period.from >= period.to) {
    throw new PeriodError(`--from ${words.from} is not before --to ${words.to}: the period is empty`);
  }
  return period;
}

/** The day (YYYY-MM-DD) an instant falls on, in the time zone `offsetMinutes` east of UTC. */
export function dayOf(at: number, offsetMinutes = 0): string {
  return new Date(at + offsetMinutes * 60_000).toISOString().slice(0, 10);
}

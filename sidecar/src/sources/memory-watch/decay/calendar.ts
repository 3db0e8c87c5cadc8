/**
 * Civil dates as day numbers (days since 1970-01-01, proleptic Gregorian). A day number has no
 * time zone and no clock time, so differences are exact whole days across month, year and DST
 * boundaries: only "today" depends on the zone, and it is taken once per run from Intl (in UTC,
 * the default, from the date's UTC fields: Intl.DateTimeFormat loads ~16 MB of ICU's data).
 */
export type DayNumber = number;

const MS_PER_DAY = 86_400_000;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const WEEK = /^(\d{4})-W(\d{2})$/;

export function dayNumber(year: number, month: number, day: number): DayNumber {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // not Date.UTC: it maps years 0-99 to 1900-1999
  return Math.round(d.getTime() / MS_PER_DAY);
}

function civil(n: DayNumber): { year: number; month: number; day: number } {
  const d = new Date(n * MS_PER_DAY);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** `2026-11-02` -> its day number, or undefined when it is not a real date (2026-02-30). */
export function parseDate(text: string): DayNumber | undefined {
  const m = DATE.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  const n = dayNumber(year, month, day);
  const back = civil(n);
  return back.year === year && back.month === month && back.day === day ? n : undefined;
}

export function formatDate(n: DayNumber): string {
  const { year, month, day } = civil(n);
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
}

/** `2026-11` */
export function formatMonth(n: DayNumber): string {
  const { year, month } = civil(n);
  return `${pad(year, 4)}-${pad(month)}`;
}

/** Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday). */
export function weekday(n: DayNumber): number {
  return (((n + 3) % 7) + 7) % 7;
}

export interface IsoWeek {
  year: number;
  week: number;
}

/** The ISO 8601 week of a day: weeks start on Monday, and week 1 holds the year's first Thursday. */
export function isoWeek(n: DayNumber): IsoWeek {
  const thursday = n - weekday(n) + 3;
  const year = civil(thursday).year;
  return { year, week: Math.floor((thursday - dayNumber(year, 1, 1)) / 7) + 1 };
}

export function weeksInYear(year: number): number {
  return isoWeek(dayNumber(year, 12, 28)).week; // Dec 28 is always in the year's last week
}

/** The Monday of an ISO week. */
export function weekStart(w: IsoWeek): DayNumber {
  const jan4 = dayNumber(w.year, 1, 4); // always in week 1
  return jan4 - weekday(jan4) + (w.week - 1) * 7;
}

/** `2026-W45` */
export function formatWeek(w: IsoWeek): string {
  return `${pad(w.year, 4)}-W${pad(w.week)}`;
}

/** `2026-W45` -> the week, or undefined when the year has no such week (2027-W53). */
export function parseWeek(text: string): IsoWeek | undefined {
  const m = WEEK.exec(text);
  if (!m) return undefined;
  const w = { year: Number(m[1]), week: Number(m[2]) };
  return w.week >= 1 && w.week <= weeksInYear(w.year) ? w : undefined;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      calendar: "gregory",
      numberingSystem: "latn",
      era: "short",
      year: "numeric",
      month: "numeric",
      day: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether Intl knows the zone (`UTC`, `Europe/Berlin`, `+01:00`). */
export function isTimeZone(timeZone: string): boolean {
  if (timeZone === "UTC") return true;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The calendar date on the wall clocks of `timeZone` at the instant `now`. */
export function dayIn(now: Date, timeZone: string): DayNumber {
  if (Number.isNaN(now.getTime())) throw new RangeError("dayIn: an invalid Date");
  if (timeZone === "UTC") return Math.floor(now.getTime() / MS_PER_DAY);
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(now)) parts[p.type] = p.value;
  const year = parts.era === "BC" ? 1 - Number(parts.year) : Number(parts.year);
  return dayNumber(year, Number(parts.month), Number(parts.day));
}

import { seededRandom } from "@clawguard/shared/testing";
import { describe, expect, it } from "vitest";
import {
  dayIn,
  dayNumber,
  formatDate,
  formatWeek,
  isoWeek,
  isTimeZone,
  parseDate,
  parseWeek,
  weekStart,
  weeksInYear,
} from "./calendar.ts";
import { wallClock } from "./test-support.ts";

const week = (date: string) => formatWeek(isoWeek(parseDate(date) as number));

describe("calendar", () => {
  it("parses real dates only, across leap years", () => {
    expect(parseDate("2026-02-29")).toBeUndefined();
    expect(parseDate("2028-02-29")).toBe(dayNumber(2028, 2, 29));
    expect(parseDate("2100-02-29")).toBeUndefined();
    expect(parseDate("2000-02-29")).toBeDefined();
    expect(parseDate("2026-13-01")).toBeUndefined();
    expect(parseDate("2026-04-31")).toBeUndefined();
    expect(parseDate("2026-4-01")).toBeUndefined();
    expect(formatDate(parseDate("0099-12-31") as number)).toBe("0099-12-31");
    expect(parseDate("1970-01-01")).toBe(0);
  });

  it("puts the ISO week-year edges in the right week", () => {
    expect(week("2026-12-31")).toBe("2026-W53"); // Thursday: 2026 has 53 weeks
    expect(week("2027-01-01")).toBe("2026-W53");
    expect(week("2027-01-03")).toBe("2026-W53");
    expect(week("2027-01-04")).toBe("2027-W01");
    expect(week("2024-12-30")).toBe("2025-W01"); // Monday of the next year's week 1
    expect(week("2025-12-29")).toBe("2026-W01");
    expect(week("2021-01-03")).toBe("2020-W53");
    expect(week("2027-12-31")).toBe("2027-W52");
    expect(weeksInYear(2026)).toBe(53);
    expect(weeksInYear(2027)).toBe(52);
    expect(parseWeek("2026-W53")).toEqual({ year: 2026, week: 53 });
    expect(parseWeek("2027-W53")).toBeUndefined();
    expect(parseWeek("2027-W00")).toBeUndefined();
    expect(formatDate(weekStart({ year: 2026, week: 53 }))).toBe("2026-12-28");
    expect(formatDate(weekStart({ year: 2025, week: 1 }))).toBe("2024-12-30");
  });

  it("agrees with a day-by-day count of ISO weeks over 1990-2060", () => {
    // Independent reference: walk every day; a Monday starts a new week, whose year is the year
    // of its Thursday; the week number resets when that year changes.
    let day = dayNumber(1990, 1, 1); // a Monday, 1990-W01
    let current = { year: 1990, week: 1 };
    const end = dayNumber(2060, 12, 31);
    for (let dow = 0; day <= end; day++, dow = (dow + 1) % 7) {
      if (dow === 0 && day !== dayNumber(1990, 1, 1)) {
        const year = Number(formatDate(day + 3).slice(0, 4));
        current = year === current.year ? { year, week: current.week + 1 } : { year, week: 1 };
      }
      const got = isoWeek(day);
      if (got.year !== current.year || got.week !== current.week) {
        throw new Error(`${formatDate(day)}: got ${formatWeek(got)}, expected ${formatWeek(current)}`);
      }
    }
  });

  it("takes today's date in the configured zone, exactly at midnight and across DST", () => {
    const day = (iso: string, tz: string) => formatDate(dayIn(new Date(iso), tz));
    expect(day("2026-11-09T23:59:59.999Z", "UTC")).toBe("2026-11-09");
    expect(day("2026-11-10T00:00:00.000Z", "UTC")).toBe("2026-11-10");
    expect(day("2026-11-09T22:59:59.999Z", "Europe/Berlin")).toBe("2026-11-09"); // CET, +01:00
    expect(day("2026-11-09T23:00:00.000Z", "Europe/Berlin")).toBe("2026-11-10");
    // The night summer time starts (2026-03-29, 02:00 -> 03:00) and ends (2026-10-25, 03:00 -> 02:00).
    expect(day("2026-03-28T22:59:59.999Z", "Europe/Berlin")).toBe("2026-03-28");
    expect(day("2026-03-28T23:00:00.000Z", "Europe/Berlin")).toBe("2026-03-29");
    expect(day("2026-03-29T21:59:59.999Z", "Europe/Berlin")).toBe("2026-03-29"); // CEST, +02:00
    expect(day("2026-03-29T22:00:00.000Z", "Europe/Berlin")).toBe("2026-03-30");
    expect(day("2026-10-25T22:59:59.999Z", "Europe/Berlin")).toBe("2026-10-25"); // 25 hours long
    expect(day("2026-10-25T23:00:00.000Z", "Europe/Berlin")).toBe("2026-10-26");
    expect(day("2026-12-31T23:00:00.000Z", "Europe/Berlin")).toBe("2027-01-01");
    expect(day("2026-12-31T23:00:00.000Z", "America/New_York")).toBe("2026-12-31");
    expect(day("2026-01-01T00:00:00.000Z", "Pacific/Kiritimati")).toBe("2026-01-01"); // +14:00
    expect(day("2025-12-31T09:59:59.999Z", "Pacific/Kiritimati")).toBe("2025-12-31");
    expect(wallClock("2026-10-25", "23:59:59.999", "Europe/Berlin").toISOString()).toBe(
      "2026-10-25T22:59:59.999Z",
    );
    expect(wallClock("2026-03-30", "00:00:00", "Europe/Berlin").toISOString()).toBe(
      "2026-03-29T22:00:00.000Z",
    );
  });

  it("takes a UTC date without Intl, the same as Intl's (Etc/UTC) before 1970 and after", () => {
    const random = seededRandom(11);
    for (let i = 0; i < 2000; i++) {
      const now = new Date(Math.floor((random() - 0.3) * 9e12));
      expect(formatDate(dayIn(now, "UTC"))).toBe(formatDate(dayIn(now, "Etc/UTC")));
    }
  });

  it("knows which zones Intl knows", () => {
    expect(isTimeZone("UTC")).toBe(true);
    expect(isTimeZone("Europe/Berlin")).toBe(true);
    expect(isTimeZone("Mars/Olympus")).toBe(false);
    expect(isTimeZone("")).toBe(false);
  });
});

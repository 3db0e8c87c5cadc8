import { describe, expect, it } from "vitest";
import { isoTime } from "./time.ts";

describe("isoTime", () => {
  it("writes what toISOString writes", () => {
    const times = [0, 1, 999, 1_000, 86_399_999, Date.UTC(2026, 11, 7, 6, 5, 4, 3), -62_167_219_200_000];
    for (let i = 0; i < 2000; i++) times.push(Math.floor(Math.random() * 253_402_300_799_999));
    for (const t of times) expect(isoTime(new Date(t))).toBe(new Date(t).toISOString());
  });

  it("leaves years past 9999, before 0, and invalid dates to toISOString", () => {
    expect(isoTime(new Date(Date.UTC(10_000, 0, 1)))).toBe("+010000-01-01T00:00:00.000Z");
    expect(isoTime(new Date(Date.UTC(-1, 0, 1)))).toBe("-000001-01-01T00:00:00.000Z");
    expect(() => isoTime(new Date(Number.NaN))).toThrow(RangeError);
  });
});

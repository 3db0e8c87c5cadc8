import { isClawguardError } from "@clawguard/shared/errors";
import { describe, expect, it } from "vitest";
import { parseDecayConfig } from "./config.ts";
import { dayContent, seeded } from "./test-support.ts";
import { daySection, encodeWeekly, mergeSections, parseWeekly } from "./weekly-file.ts";

describe("weekly file", () => {
  const tricky = [
    daySection("2026-11-02", Buffer.alloc(0)),
    daySection("2026-11-03", Buffer.from("no trailing newline")),
    daySection(
      "2026-11-04",
      Buffer.from(
        "\n## 2026-11-04\n<!-- clawguard:day 2026-11-04 bytes=1 sha256=00 -->\nx\n<!-- clawguard:end 2026-11-04 -->\n",
      ),
    ),
    daySection("2026-11-05", Buffer.from([0xff, 0x00, 0x0a, 0xc3, 0x28])),
    daySection("2026-11-05", Buffer.from("Grüße 🧠\r\n")), // the same day again, other content
  ];

  it("gives back every day byte for byte, whatever the day holds", () => {
    const data = encodeWeekly("2026-W45", tricky);
    const back = parseWeekly(data, "w.md", "2026-W45");
    expect(back.map((s) => [s.date, s.content.toString("hex"), s.sha256])).toEqual(
      tricky.map((s) => [s.date, s.content.toString("hex"), s.sha256]),
    );
    const rnd = seeded(7);
    const many = Array.from({ length: 200 }, (_, i) =>
      daySection("2026-11-06", dayContent(`2026-11-0${i % 9}`, rnd)),
    );
    expect(parseWeekly(encodeWeekly("2026-W45", many), "w.md").map((s) => s.content)).toEqual(
      many.map((s) => s.content),
    );
  });

  it("is Markdown with a heading per day", () => {
    const text = encodeWeekly("2026-W45", tricky.slice(1, 2)).toString();
    expect(text).toBe(
      "<!-- clawguard:weekly 2026-W45 v1: days compacted by clawguard memory decay, each kept byte for byte after its clawguard:day line (bytes=N); do not edit -->\n" +
        "\n## 2026-11-03\n" +
        "<!-- clawguard:day 2026-11-03 bytes=19 sha256=" +
        tricky[1]?.sha256 +
        " -->\nno trailing newline\n<!-- clawguard:end 2026-11-03 -->\n",
    );
  });

  it("refuses anything that is not exactly what it wrote, naming the offset", () => {
    const data = encodeWeekly("2026-W45", tricky);
    const bad = (buf: Buffer, pattern: RegExp, week?: string) => {
      let err: unknown;
      try {
        parseWeekly(buf, "memory/weekly/2026-W45.md", week);
      } catch (e) {
        err = e;
      }
      expect(isClawguardError(err, "input.invalid")).toBe(true);
      expect((err as Error).message).toMatch(pattern);
    };
    bad(Buffer.from("# my notes\n"), /memory\/weekly\/2026-W45\.md: not a clawguard weekly file at byte 0/);
    bad(data, /expected week 2026-W46/, "2026-W46");
    bad(data.subarray(0, data.length - 1), /expected/); // truncated
    const edited = Buffer.from(data);
    edited[data.indexOf("no trailing") + 1] = "X".charCodeAt(0);
    bad(edited, /sha256 [0-9a-f]{64}, the marker says/);
    bad(Buffer.concat([data, Buffer.from("appended by hand\n")]), /expected "\\n## "/);
    const swapped = encodeWeekly("2026-W45", [tricky[1], tricky[0]] as never);
    bad(swapped, /must be in date order/);
  });

  it("merges by date and hash: nothing twice, in date order, first comers first", () => {
    const a = daySection("2026-11-03", Buffer.from("a"));
    const b = daySection("2026-11-02", Buffer.from("b"));
    const a2 = daySection("2026-11-03", Buffer.from("a, written again"));
    const first = mergeSections([], [a, b, a]);
    expect(first.sections.map((s) => s.content.toString())).toEqual(["b", "a"]);
    const second = mergeSections(first.sections, [a2, a, b]);
    expect(second.added.map((s) => s.content.toString())).toEqual(["a, written again"]);
    expect(second.sections.map((s) => s.content.toString())).toEqual(["b", "a", "a, written again"]);
    expect(mergeSections(second.sections, [a, b, a2]).added).toEqual([]);
  });
});

describe("decay config", () => {
  it("has the issue's defaults", () => {
    expect(parseDecayConfig(undefined)).toMatchObject({
      dailyToWeeklyDays: 7,
      weeklyToArchiveDays: 30,
      trashRetentionDays: 30,
      temporaryRetentionDays: 365,
      timeZone: "UTC",
    });
    expect(parseDecayConfig({ dailyToWeeklyDays: "14" }).dailyToWeeklyDays).toBe(14); // from env
  });

  it("lists every problem with its path", () => {
    let err: unknown;
    try {
      parseDecayConfig({
        dailyToWeeklyDays: 0,
        timeZone: "Mars/Olympus",
        trashRetentionDays: "a week",
        extra: 1,
      });
    } catch (e) {
      err = e;
    }
    expect(isClawguardError(err, "config.invalid")).toBe(true);
    const message = (err as Error).message;
    expect(message).toMatch(/4 problem/);
    expect(message).toMatch(/memory\.decay\.dailyToWeeklyDays: expected an integer >= 1, got 0/);
    expect(message).toMatch(/memory\.decay\.timeZone: expected a time zone Intl knows.*got "Mars\/Olympus"/);
    expect(message).toMatch(/memory\.decay\.trashRetentionDays: .*got "a week"/);
    expect(message).toMatch(/memory\.decay\.extra: unknown key/);
  });
});

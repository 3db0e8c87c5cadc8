import { describe, expect, it } from "vitest";
import { EMPTY_HEAD, sealEvent } from "../chain.ts";
import { draftEvent, validateDraft, validateEvent } from "./envelope.ts";

const good = sealEvent(
  draftEvent({
    source: { agent: "main", role: "gateway", host: "h" },
    type: "exec.completed",
    attrs: { bytes: 1 },
  }),
  EMPTY_HEAD,
);

describe("validateEvent", () => {
  it("accepts a sealed event", () => {
    expect(validateEvent(good)).toEqual({ ok: true, value: good });
  });

  it("refuses a source role outside [A-Za-z0-9_.-] (a metric label and part of alert texts)", () => {
    for (const role of ["@channel", "[l](https://e.example)", "gw\u202ex", "gw\u2028x"]) {
      const result = validateEvent({ ...good, source: { ...good.source, role } });
      expect(result.ok ? [] : result.errors).toEqual([
        expect.stringMatching(/^event\.source\.role: expected a role \(\[A-Za-z0-9_.-\]/),
      ]);
    }
  });

  it("names every problem with its path", () => {
    const bad = {
      ...good,
      id: "nope",
      seq: 0,
      severity: "loud",
      type: "Exec",
      source: { agent: "", role: "r" },
      extra: 1,
    };
    const result = validateEvent(bad, "events[3]");
    expect(result.ok).toBe(false);
    const errors = result.ok ? [] : result.errors;
    expect(errors).toEqual(
      expect.arrayContaining([
        "events[3].extra: unknown field",
        'events[3].id: expected a ULID, got "nope"',
        "events[3].seq: expected an integer in 1..2^48, got number 0",
        'events[3].severity: expected one of debug|info|warn|error|critical, got "loud"',
        expect.stringContaining("events[3].type: expected a dotted lower-case type"),
        expect.stringContaining("events[3].source.agent"),
        "events[3].source.host: expected a host of 1-255 chars, got nothing",
      ]),
    );
  });

  it("refuses non-objects, oversized attrs and impossible dates", () => {
    expect(validateEvent([1]).ok).toBe(false);
    expect(validateEvent(null).ok).toBe(false);
    const big = validateEvent({ ...good, attrs: { blob: "x".repeat(70_000) } });
    expect(big.ok ? [] : big.errors).toEqual([
      expect.stringContaining("event.attrs: 70011 bytes, expected at most 65536"),
    ]);
    expect(validateEvent({ ...good, time: "2026-13-45T99:00:00Z" }).ok).toBe(false);
  });

  it("drafts carry no chain fields", () => {
    const draft = draftEvent({ source: good.source, type: "exec.denied", session: "s1" });
    expect(validateDraft(draft).ok).toBe(true);
    expect(validateDraft(good).ok).toBe(false);
  });
});

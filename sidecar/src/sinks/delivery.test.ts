import { isClawguardError } from "@clawguard/shared/errors";
import { describe, expect, it } from "vitest";
import { Backoff, DeliveryFailure, failureOf, outcomeOf, retryAfterMs } from "./delivery.ts";

describe("outcomeOf", () => {
  it.each([
    [200, "delivered"],
    [201, "delivered"],
    [207, "delivered"],
    [400, "refused"],
    [413, "refused"],
    [422, "refused"],
    [408, "busy"],
    [429, "busy"],
    [502, "busy"],
    [503, "busy"],
    [504, "busy"],
    [401, "auth"],
    [403, "auth"],
    // Not understood: never a reason to drop what waits (a collector bug, a proxy's page).
    [500, "failing"],
    [404, "failing"],
    [409, "failing"],
    [301, "failing"],
  ] as const)("HTTP %i is %s", (status, outcome) => {
    expect(outcomeOf(status)).toBe(outcome);
  });
});

describe("retryAfterMs", () => {
  const now = Date.parse("2026-12-07T08:00:00Z");

  it("reads delta-seconds", () => {
    expect(retryAfterMs("120", now)).toBe(120_000);
    expect(retryAfterMs(" 0 ", now)).toBe(0);
    expect(retryAfterMs(["3", "9"], now)).toBe(3000);
  });

  it("reads an HTTP-date (IMF-fixdate and the obsolete forms), a past one as 0", () => {
    expect(retryAfterMs("Mon, 07 Dec 2026 08:00:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("Monday, 07-Dec-26 08:01:00 GMT", now)).toBe(60_000);
    expect(retryAfterMs("Mon Dec  7 08:00:05 2026", now)).toBe(5_000);
    expect(retryAfterMs("Sun, 06 Dec 2026 08:00:00 GMT", now)).toBe(0);
  });

  it("ignores what is neither", () => {
    for (const bad of [undefined, "", "soon", "1.5", "-3", "3 days", "2026-12-07T08:00:30Z", "Mon, garbage"])
      expect(retryAfterMs(bad, now), String(bad)).toBeUndefined();
  });
});

describe("Backoff", () => {
  const options = { backoffMinMs: 100, backoffMaxMs: 1000 };
  const at = (r: number) => new Backoff(options, () => r);

  it("doubles from the minimum to the cap, each wait half to all of its step, and starts over after a delivery", () => {
    const low = at(0);
    expect([1, 2, 3, 4, 5].map(() => low.next({ outcome: "unreachable" }))).toEqual([50, 100, 200, 400, 500]);
    const high = at(0.999_999);
    expect([1, 2, 3, 4, 5].map(() => high.next({ outcome: "busy" }))).toEqual([100, 200, 400, 800, 1000]);
    high.reset();
    expect(high.next({ outcome: "unreachable" })).toBe(100);
  });

  it("honours Retry-After as given or up to a tenth longer, never shorter, within the cap", () => {
    expect(at(0).next({ outcome: "busy", retryAfterMs: 700 })).toBe(700);
    expect(at(0.999_999).next({ outcome: "busy", retryAfterMs: 700 })).toBe(770);
    expect(at(0.5).next({ outcome: "busy", retryAfterMs: 60_000 })).toBe(1000);
    expect(at(0.5).next({ outcome: "busy", retryAfterMs: 0 })).toBe(0);
  });

  it("waits at the cap (with jitter) for a refused token or an answer not understood, whatever the step", () => {
    for (const outcome of ["auth", "failing"] as const) {
      expect(at(0).next({ outcome })).toBe(500);
      expect(at(0.999_999).next({ outcome })).toBe(1000);
    }
  });

  it("a Retry-After on a failure that is not 'busy' does not shorten its wait", () => {
    expect(at(0.999_999).next({ outcome: "failing", retryAfterMs: 1 })).toBe(1000);
  });
});

describe("DeliveryFailure", () => {
  it("carries its outcome and Retry-After; a refused token is upstream.rejected, the rest upstream.unavailable", () => {
    const busy = new DeliveryFailure("busy", "collector busy (HTTP 503)", 2000);
    expect(failureOf(busy)).toMatchObject({ outcome: "busy", retryAfterMs: 2000 });
    expect(isClawguardError(busy, "upstream.unavailable") && busy.retryable).toBe(true);
    expect(isClawguardError(new DeliveryFailure("auth", "token refused"), "upstream.rejected")).toBe(true);
    expect(failureOf(new Error("EMFILE"))).toEqual({ outcome: "failing" });
  });
});

import { describe, expect, it } from "vitest";
import { metricsWanted, telemetryWanted, tracesWanted } from "./telemetry.ts";

describe("which OpenTelemetry signals go out", () => {
  it("follows the per-signal endpoints and exporters of the specification", () => {
    // A metrics-only endpoint: metrics, and no traces sent to a default localhost:4318.
    const metricsOnly = { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://otel:4318/v1/metrics" };
    expect([tracesWanted(metricsOnly), metricsWanted(metricsOnly), telemetryWanted(metricsOnly)]).toEqual([
      false,
      true,
      true,
    ]);
    const tracesOnly = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://otel:4318/v1/traces" };
    expect([tracesWanted(tracesOnly), metricsWanted(tracesOnly)]).toEqual([true, false]);
    const both = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel:4318", OTEL_METRICS_EXPORTER: "none" };
    expect([tracesWanted(both), metricsWanted(both)]).toEqual([true, false]);
    expect(metricsWanted({ OTEL_METRICS_EXPORTER: "prometheus" })).toBe(true);
    expect(telemetryWanted({ ...both, OTEL_SDK_DISABLED: "true" })).toBe(false);
    expect(telemetryWanted({})).toBe(false);
  });
});

import type { Meter, Tracer } from "@opentelemetry/api";

/**
 * OpenTelemetry for one program: the NodeSDK with the OTLP/HTTP trace exporter, configured by the
 * standard OTEL_* variables. Off (a no-op tracer, nothing loaded) unless an endpoint is set.
 * No auto-instrumentation: our own HTTP calls (the shipper, the exporter) are not traced.
 */
export interface Telemetry {
  readonly enabled: boolean;
  readonly tracer: Tracer;
  /** Metrics go out over OTLP/HTTP beside the traces (OTEL_METRICS_EXPORTER=none turns them off). */
  readonly meter: Meter;
  shutdown(): Promise<void>;
}

export function telemetryWanted(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === "true") return false;
  if ((env.OTEL_TRACES_EXPORTER ?? "otlp").split(",").every((e) => e.trim() === "none")) return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

export async function startTelemetry(serviceName: string, env: NodeJS.ProcessEnv): Promise<Telemetry> {
  const api = await import("@opentelemetry/api");
  if (!telemetryWanted(env)) {
    return {
      enabled: false,
      tracer: api.trace.getTracer("clawguard"),
      meter: api.metrics.getMeter("clawguard"),
      shutdown: async () => {},
    };
  }
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import("@opentelemetry/sdk-node"),
    import("@opentelemetry/exporter-trace-otlp-http"),
  ]);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || serviceName,
    traceExporter: new OTLPTraceExporter(),
    instrumentations: [],
  });
  sdk.start();
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    tracer: api.trace.getTracer("clawguard"),
    meter: api.metrics.getMeter("clawguard"),
    shutdown: () => {
      stopped ??= sdk.shutdown();
      return stopped;
    },
  };
}

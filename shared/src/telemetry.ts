import type { Meter, MeterProvider, Tracer, TracerProvider } from "@opentelemetry/api";

/**
 * OpenTelemetry for one program: the NodeSDK configured by the standard OTEL_* variables (protocol
 * http/protobuf by default, http/json or grpc as OTEL_EXPORTER_OTLP_PROTOCOL says). Off (a no-op
 * tracer and meter, nothing loaded) unless an endpoint is set for traces or metrics.
 * No auto-instrumentation: our own HTTP calls (the shipper, the exporter) are not traced.
 */
export interface Telemetry {
  readonly enabled: boolean;
  readonly tracer: Tracer;
  /** Metrics go out over OTLP beside the traces (OTEL_METRICS_EXPORTER=none turns them off). */
  readonly meter: Meter;
  shutdown(): Promise<void>;
}

const exporters = (value: string | undefined, fallback: string) =>
  (value || fallback).split(",").map((e) => e.trim());

/** Traces go out: an OTLP endpoint for them, and OTEL_TRACES_EXPORTER not "none". */
export function tracesWanted(env: NodeJS.ProcessEnv): boolean {
  if (exporters(env.OTEL_TRACES_EXPORTER, "otlp").every((e) => e === "none")) return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** Metrics go out: an OTLP endpoint for them (or OTEL_METRICS_EXPORTER=prometheus/console), not "none". */
export function metricsWanted(env: NodeJS.ProcessEnv): boolean {
  const list = exporters(env.OTEL_METRICS_EXPORTER, "otlp");
  if (list.includes("none")) return false;
  if (list.some((e) => e === "prometheus" || e === "console")) return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
}

export function telemetryWanted(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === "true") return false;
  return tracesWanted(env) || metricsWanted(env);
}

/** Who emits: on every span and metric (resource attributes), so that agents can be told apart. */
export interface TelemetryIdentity {
  /** service.version. */
  version: string;
  /** service.instance.id: the agent's name for a sidecar, the host and PID for a collector. */
  instanceId: string;
  /** More resource attributes (clawguard.agent, clawguard.role). */
  attributes?: Record<string, string>;
}

/**
 * The SDK as the OTEL_* variables say (the specification's: OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER,
 * OTEL_EXPORTER_OTLP_(TRACES_|METRICS_)PROTOCOL / ENDPOINT / HEADERS): the NodeSDK reads them itself
 * when given no exporter. A signal whose endpoint is not set is not exported at all (an SDK left to
 * its defaults would send it to localhost:4318). OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
 * over the identity given here.
 */
export async function startTelemetry(
  serviceName: string,
  env: NodeJS.ProcessEnv,
  identity?: TelemetryIdentity,
): Promise<Telemetry> {
  const api = await import("@opentelemetry/api");
  if (!telemetryWanted(env)) {
    return {
      enabled: false,
      tracer: api.trace.getTracer("clawguard"),
      meter: api.metrics.getMeter("clawguard"),
      shutdown: async () => {},
    };
  }
  const [{ NodeSDK }, { resourceFromAttributes, processDetector, hostDetector, osDetector, envDetector }] =
    await Promise.all([import("@opentelemetry/sdk-node"), import("@opentelemetry/resources")]);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || serviceName,
    ...(identity
      ? {
          resource: resourceFromAttributes({
            "service.version": identity.version,
            "service.instance.id": identity.instanceId,
            ...identity.attributes,
          }),
          // The SDK's detectors but its random service.instance.id, which would replace ours.
          resourceDetectors: [processDetector, hostDetector, osDetector, envDetector],
        }
      : {}),
    ...(tracesWanted(env) ? {} : { spanProcessors: [] }),
    ...(metricsWanted(env) ? {} : { metricReaders: [] }),
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  // This SDK's own providers, not the global ones: under `clawguard up` the collector and the
  // sidecar run in one process, and only the first SDK's providers become global (the sidecar's
  // spans would carry the collector's service name). The SDK keeps them in these two fields.
  const own = sdk as unknown as { _tracerProvider?: TracerProvider; _meterProvider?: MeterProvider };
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    tracer: (own._tracerProvider ?? api.trace.getTracerProvider()).getTracer("clawguard"),
    meter: (own._meterProvider ?? api.metrics.getMeterProvider()).getMeter("clawguard"),
    shutdown: () => {
      stopped ??= sdk.shutdown();
      return stopped;
    },
  };
}

import type { AuditEvent } from "@clawguard/shared/events/envelope";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Telemetry } from "@clawguard/shared/telemetry";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { EventBus } from "../../bus.ts";

/**
 * Turns exec events into spans: one span per exec, timed from its event (the agent-side command
 * may have run while the sidecar was down). No output, only counts and hashes, as in the event.
 */
export class OtelSink implements Component {
  readonly id = "sink.otel";
  readonly #bus: EventBus;
  readonly #telemetry: Telemetry;
  #unsubscribe: (() => void) | undefined;

  constructor(bus: EventBus, telemetry: Telemetry) {
    this.#bus = bus;
    this.#telemetry = telemetry;
  }

  async start(): Promise<void> {
    if (!this.#telemetry.enabled) return;
    this.#unsubscribe = this.#bus.subscribe((events) => {
      // One span per exec: from its outcome (exec.started is the intent; its outcome follows).
      for (const event of events)
        if (event.type.startsWith("exec.") && event.type !== "exec.started") this.#span(event);
    });
  }

  #span(event: AuditEvent): void {
    const a = event.attrs;
    const end = Date.parse(event.time);
    const duration = typeof a.duration_ms === "number" ? a.duration_ms : 0;
    const span = this.#telemetry.tracer.startSpan(`exec ${String(a.argv0 ?? "")}`.trim(), {
      kind: SpanKind.INTERNAL,
      startTime: new Date(end - duration),
      attributes: {
        "clawguard.event.id": event.id,
        "clawguard.event.type": event.type,
        "clawguard.agent": event.source.agent,
        ...(event.session ? { "session.id": event.session } : {}),
        ...(typeof a.argv0 === "string" ? { "process.executable.name": a.argv0 } : {}),
        ...(typeof a.exit_code === "number" ? { "process.exit.code": a.exit_code } : {}),
        ...(typeof a.bytes === "number" ? { "clawguard.exec.output_bytes": a.bytes } : {}),
        ...(typeof a.lines === "number" ? { "clawguard.exec.output_lines": a.lines } : {}),
        ...(typeof a.spilled === "boolean" ? { "clawguard.exec.spilled": a.spilled } : {}),
        ...(typeof a.timed_out === "boolean" ? { "clawguard.exec.timed_out": a.timed_out } : {}),
      },
    });
    if (event.type !== "exec.completed" || a.exit_code !== 0) {
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: event.type === "exec.completed" ? `exit code ${String(a.exit_code)}` : event.type,
      });
      span.setAttribute("error.type", event.type === "exec.completed" ? String(a.exit_code) : event.type);
    }
    span.end(new Date(end));
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    await this.#telemetry.shutdown();
  }
}

import { join } from "node:path";
import type { AuditEvent } from "@clawguard/shared/events/envelope";
import { type Listening, listen } from "@clawguard/shared/http/serve";
import { silentLogger } from "@clawguard/shared/log";
import type { Telemetry } from "@clawguard/shared/telemetry";
import { EventBus } from "@clawguard/sidecar/bus";
import { workspacePaths } from "@clawguard/sidecar/paths";
import { Spool } from "@clawguard/sidecar/sinks/spool/spool";
import { SpillStore } from "@clawguard/sidecar/sources/exec-guard/spill";
import type { LlmProxyConfig } from "@clawguard/sidecar/sources/llm-proxy/config";
import { LlmGuard } from "@clawguard/sidecar/sources/llm-proxy/index";

export interface RunningGuard {
  guard: LlmGuard;
  /** Where the SDKs point: `${server.url}/llm/<provider>`. */
  server: Listening;
  spill: SpillStore;
  /** Every audit event the guard published, as the spool sealed it. */
  events: AuditEvent[];
  /** Stops the server, the guard and the spool (not the providers: whoever started them closes them). */
  stop(): Promise<void>;
}

/**
 * The context guard in this process as the sidecar runs it (spool, event bus, spill store) in the
 * workspace `dir`, listening on loopback: what the LLM proxy's integration tests drive.
 */
export async function startLlmGuard(options: {
  dir: string;
  config: LlmProxyConfig;
  telemetry: Telemetry;
  source: { agent: string; role: string; host: string };
  /** Where the guard keeps its token-count calibration (default: in memory only). */
  calibrationFile?: string;
}): Promise<RunningGuard> {
  const paths = workspacePaths(options.dir, options.source.agent);
  const spool = await Spool.open({
    dir: join(options.dir, ".state", "spool"),
    maxBytes: 64 * 1024 * 1024,
    segmentBytes: 4 * 1024 * 1024,
    fsync: "never",
    fsyncIntervalMs: 1000,
    log: silentLogger,
  });
  const events: AuditEvent[] = [];
  const bus = new EventBus(spool);
  bus.subscribe((batch) => events.push(...batch));
  const spill = new SpillStore(paths.spill, options.dir);
  const guard = new LlmGuard({
    config: options.config,
    env: {},
    spill,
    source: options.source,
    bus,
    telemetry: options.telemetry,
    log: silentLogger,
    calibrationFile: options.calibrationFile,
  });
  await guard.start();
  const server = await listen(() => new Response("not here", { status: 404 }), "127.0.0.1", 0, guard.handler);
  return {
    guard,
    server,
    spill,
    events,
    stop: async () => {
      await server.close();
      await guard.stop();
      await spool.close();
    },
  };
}

import type { Command } from "@clawguard/shared/cli/command";
import { serviceCommand } from "@clawguard/shared/cli/service";
import { loadSidecarConfig } from "../../config.ts";
import { preflight, startSidecar } from "../../main.ts";
import { describeChatProbeCosts } from "../../sources/prober/cost.ts";
import { configFile } from "../context.ts";

const help = `Usage: clawguard sidecar [--config FILE] [--check | --print-config]

Runs the sidecar next to one agent: the inbox of the agent's exec events and spill reads; the LLM proxy under /llm/<provider>/ (the
context guard: llm.providers); the memory watcher with history and daily decay (memory.*); the
agent's probes (probe.*) and heartbeats; the spool of audit events and the shippers to the
collector; traces and metrics to OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
Listens on 127.0.0.1:18801 by default (api.listen).

Options:
  --config FILE      YAML config (default: $CLAWGUARD_CONFIG or ./clawguard.yaml); CLAWGUARD_* env overrides it
  --check            validate the config and exit (0 when valid)
  --print-config     print the effective config (secrets redacted) and exit; the chat probes'
                     token cost an hour goes to stderr
  -h, --help         this help

Secrets: CLAWGUARD_INGEST_TOKEN or CLAWGUARD_INGEST_TOKEN_FILE (required: this sidecar's collector
token); CLAWGUARD_SIDECAR_TOKEN(_FILE) for the API (generated into stateDir if unset).
stateDir (CLAWGUARD_STATE_DIR): the sidecar's private state, outside the workspace (the agent's
container reads the workspace); default $XDG_STATE_HOME/clawguard/<agent>-<workspace id>.`;

export const sidecarCommand: Command = serviceCommand({
  name: "sidecar",
  help,
  load: (flag, io) => loadSidecarConfig(configFile(flag, io.env, io.cwd), io.env, io.cwd),
  check(config, io) {
    // What the start checks before it takes anything: the ingest token, the state dir, and the
    // providers (upstream URLs, API families, the OpenClaw config, injected keys).
    const { providers, skipped } = preflight(config, io.env);
    const guarded = providers.map(
      (p) => `${p.id} (${p.family.api}, ${p.models.size} model(s)) -> ${p.upstream.origin}`,
    );
    return [
      "sidecar config is valid",
      ...(guarded.length ? [`LLM providers: ${guarded.join("; ")}`] : []),
      ...skipped.map((s) => `LLM provider ${s}`),
      ...describeChatProbeCosts(config.probe),
    ];
  },
  printNotes: (config) => describeChatProbeCosts(config.probe),
  logName: (config) => `sidecar:${config.agent}`,
  start: (config, io, log) => startSidecar(config, io.env, log),
});

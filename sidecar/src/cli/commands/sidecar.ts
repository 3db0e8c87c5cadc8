import { type Command, parse } from "@clawguard/shared/cli/command";
import { untilSignal } from "@clawguard/shared/cli/signals";
import { loggerFromEnv } from "@clawguard/shared/log";
import { redactObject } from "@clawguard/shared/redact";
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

export const sidecarCommand: Command = {
  name: "sidecar",
  help,
  async run(args, io) {
    const { values } = parse(
      "sidecar",
      args,
      { config: { type: "string" }, check: { type: "boolean" }, "print-config": { type: "boolean" } },
      false,
    );
    if (values.help) {
      io.out(`${help}\n`);
      return 0;
    }
    const config = loadSidecarConfig(configFile(values.config, io.env, io.cwd), io.env, io.cwd);
    if (values["print-config"]) {
      io.out(`${JSON.stringify(redactObject(config), null, 2)}\n`);
      // Beside the JSON, so that stdout stays the config.
      for (const line of describeChatProbeCosts(config.probe)) io.err(`${line}\n`);
      return 0;
    }
    if (values.check) {
      // What the start checks before it takes anything: the ingest token, the state dir, and the
      // providers (upstream URLs, API families, the OpenClaw config, injected keys).
      const { providers, skipped } = preflight(config, io.env);
      const guarded = providers.map(
        (p) => `${p.id} (${p.family.api}, ${p.models.size} model(s)) -> ${p.upstream.origin}`,
      );
      io.out(
        `sidecar config is valid${guarded.length ? `\nLLM providers: ${guarded.join("; ")}` : ""}${skipped.map((s) => `\nLLM provider ${s}`).join("")}${describeChatProbeCosts(
          config.probe,
        )
          .map((line) => `\n${line}`)
          .join("")}\n`,
      );
      return 0;
    }
    const log = loggerFromEnv(io.env, `sidecar:${config.agent}`);
    const stopping = untilSignal((message) => log.error(message));
    const sidecar = await startSidecar(config, io.env, log);
    const signal = await stopping;
    log.info("stopping", { signal });
    const t0 = performance.now();
    await sidecar.stop();
    log.info("stopped", { ms: Math.round(performance.now() - t0) });
    return 0;
  },
};

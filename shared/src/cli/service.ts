import { unknownEnvWarnings } from "../config/env-names.ts";
import { type Logger, loggerFromEnv } from "../log.ts";
import { redactObject } from "../redact/index.ts";
import { type Command, type Io, parse } from "./command.ts";
import { untilSignal } from "./signals.ts";

/** A long-running program's command (`sidecar`, `collector`): the parts that differ between them. */
export interface ServiceCommand<C> {
  name: string;
  help: string;
  /** Loads the config from `--config` (`flag`), else the program's default file, and the env. */
  load(flag: string | undefined, io: Io): C;
  /** What `--check` runs beyond the load (the start's own preflight); returns the lines to print. */
  check(config: C, io: Io): string[];
  /** Said on stderr after `--print-config`'s JSON, so that stdout stays the config. */
  printNotes?(config: C): string[];
  /** The logger's name, e.g. `sidecar:main`. */
  logName(config: C): string;
  start(config: C, io: Io, log: Logger): Promise<{ stop(): Promise<void> }>;
}

/**
 * One prologue for every long-running program: `--config FILE`, `--check`, `--print-config`
 * (secrets redacted), `--help`; then it runs until SIGINT/SIGTERM and stops, timing the stop.
 */
export function serviceCommand<C>(spec: ServiceCommand<C>): Command {
  return {
    name: spec.name,
    help: spec.help,
    async run(args, io) {
      const { values } = parse(
        spec.name,
        args,
        { config: { type: "string" }, check: { type: "boolean" }, "print-config": { type: "boolean" } },
        false,
      );
      if (values.help) {
        io.out(`${spec.help}\n`);
        return 0;
      }
      for (const warning of unknownEnvWarnings(io.env)) io.err(`clawguard ${spec.name}: ${warning}\n`);
      const config = spec.load(values.config, io);
      if (values["print-config"]) {
        io.out(`${JSON.stringify(redactObject(config), null, 2)}\n`);
        for (const line of spec.printNotes?.(config) ?? []) io.err(`${line}\n`);
        return 0;
      }
      if (values.check) {
        io.out(`${spec.check(config, io).join("\n")}\n`);
        return 0;
      }
      const log = loggerFromEnv(io.env, spec.logName(config));
      const stopping = untilSignal((message) => log.error(message));
      const service = await spec.start(config, io, log);
      const signal = await stopping;
      log.info("stopping", { signal });
      const t0 = performance.now();
      await service.stop();
      log.info("stopped", { ms: Math.round(performance.now() - t0) });
      return 0;
    },
  };
}

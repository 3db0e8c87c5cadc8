import { redactText } from "./redact/index.ts";
import { isoTime } from "./time.ts";

/**
 * A small structured logger: one line per record on stderr, human-readable on a terminal and JSON
 * otherwise (CLAWGUARD_LOG_FORMAT=json|text). Messages pass through secret redaction.
 */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LoggerOptions {
  level?: Level;
  format?: "json" | "text";
  component?: string;
  write?: (line: string) => void;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? "info"];
  const format = options.format ?? (process.stderr.isTTY ? "text" : "json");
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const log = (level: Level, msg: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[level] < min) return;
    const record = { time: isoTime(new Date()), level, component: options.component, msg, ...fields };
    if (format === "json") {
      write(redactText(JSON.stringify(record)));
    } else {
      const extra = Object.entries(fields)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      write(
        redactText(
          `${record.time} ${level.toUpperCase()} [${options.component ?? "clawguard"}] ${msg} ${extra}`.trimEnd(),
        ),
      );
    }
  };
  return {
    debug: (m, f) => log("debug", m, f),
    info: (m, f) => log("info", m, f),
    warn: (m, f) => log("warn", m, f),
    error: (m, f) => log("error", m, f),
    child: (component) =>
      createLogger({
        ...options,
        component: options.component ? `${options.component}.${component}` : component,
      }),
  };
}

/** For tests and quiet CLIs. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};

/** The daemons' logger, from CLAWGUARD_LOG_LEVEL (debug|info|warn|error) and CLAWGUARD_LOG_FORMAT. */
export function loggerFromEnv(env: NodeJS.ProcessEnv, component: string): Logger {
  const level = env.CLAWGUARD_LOG_LEVEL;
  const format = env.CLAWGUARD_LOG_FORMAT;
  return createLogger({
    component,
    ...(level && level in ORDER ? { level: level as Level } : {}),
    ...(format === "text" || format === "json" ? { format } : {}),
  });
}

import { bool, int } from "@clawguard/shared/config/fields";
import { ClawguardError } from "@clawguard/shared/errors";
import { z } from "zod";
import { isTimeZone } from "./calendar.ts";

const DAYS_MAX = 100 * 366;

/**
 * `memory.decay`: when daily logs are compacted, weekly files archived, and trash and temporary
 * records removed. Every threshold is "older than N days": a file dated D is older than N days
 * on the first day whose date in `timeZone` is D + N + 1.
 */
export const memoryDecayConfig = z
  .strictObject({
    /** Whether the sidecar runs decay on its own (every intervalMs); the CLI runs it regardless. */
    enabled: bool.default(true),
    /** Daily logs `memory/YYYY-MM-DD.md` older than this go into `memory/weekly/YYYY-Www.md`. */
    dailyToWeeklyDays: int(1, DAYS_MAX).default(7),
    /** Weekly files whose Sunday is older than this move to `memory/archive/YYYY-MM/`. */
    weeklyToArchiveDays: int(1, DAYS_MAX).default(30),
    /** A file in `memory/.trash/YYYY-MM-DD/` is deleted once that date is older than this. */
    trashRetentionDays: int(1, DAYS_MAX).default(30),
    /** Files in `memory/tmp/` named `YYYY-MM-DD...` go to the trash once older than this. */
    temporaryRetentionDays: int(1, DAYS_MAX).default(365),
    /** The zone whose calendar dates the file names are read in (IANA name or offset). */
    timeZone: z
      .string({ error: "expected a time zone such as UTC or Europe/Berlin" })
      .refine(isTimeZone, { error: "expected a time zone Intl knows, such as UTC or Europe/Berlin" })
      .default("UTC"),
    /** How often the sidecar runs decay. */
    intervalMs: int(60_000, 7 * 24 * 3600 * 1000).default(24 * 3600 * 1000),
    /**
     * A lock held from another machine (or PID namespace), whose liveness cannot be checked, is
     * taken over when its holder has not refreshed it for this long (a holder refreshes it every step).
     */
    lockStaleMs: int(10_000, 24 * 3600 * 1000).default(10 * 60 * 1000),
  })
  .prefault({});

export type MemoryDecayConfig = z.output<typeof memoryDecayConfig>;
export type MemoryDecayConfigInput = z.input<typeof memoryDecayConfig>;

/**
 * Validates a decay config (partial, defaults filled in) into a frozen object, or throws
 * `config.invalid` listing every problem with its path.
 */
export function parseDecayConfig(input: unknown, path = "memory.decay"): Readonly<MemoryDecayConfig> {
  const result = memoryDecayConfig.safeParse(input ?? {}, { reportInput: true });
  if (result.success) return Object.freeze(result.data);
  const problems = result.error.issues.map((issue) => {
    const at = [path, ...issue.path.map(String)].join(".");
    if (issue.code === "unrecognized_keys") return `${at}.${issue.keys.join(", ")}: unknown key`;
    const got = "input" in issue && issue.input !== undefined ? `, got ${JSON.stringify(issue.input)}` : "";
    return `${at}: ${issue.message}${got}`;
  });
  throw new ClawguardError(
    "config.invalid",
    `memory decay config has ${problems.length} problem(s):\n  - ${problems.join("\n  - ")}`,
  );
}

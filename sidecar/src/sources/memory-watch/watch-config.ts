import { bytes, int } from "@clawguard/shared/config/fields";
import { z } from "zod";
import { memoryDecayConfig } from "./decay/config.ts";

/** OpenClaw injects these into every system prompt, each cut at its bootstrap cap. */
export const BOOTSTRAP_FILES = ["AGENTS.md", "SOUL.md", "IDENTITY.md", "USER.md", "MEMORY.md"];
/** OpenClaw's own default for `agents.defaults.bootstrapMaxChars`. */
export const OPENCLAW_BOOTSTRAP_MAX_CHARS = 20_000;

export const memoryWatchConfig = z
  .strictObject({
    /** Relative to the workspace; `**` is any number of folders. */
    globs: z.array(z.string().min(1)).default(["memory/**/*.md", ...BOOTSTRAP_FILES]),
    /** A write is settled (and reported) once the file has not changed for this long. */
    settleMs: int(10, 60_000).default(200),
    /** A daily log (memory/YYYY-MM-DD.md) over this is oversize. */
    dailyMaxBytes: bytes(1024, 1024 * 1024 * 1024).default(64 * 1024),
    /** The injection cap of bootstrap files; default: the OpenClaw config's, else 20 000 chars. */
    bootstrapMaxChars: int(100, 100_000_000).optional(),
    /** The agent's openclaw.json, for its bootstrap cap; default: llm.openclawConfig. */
    openclawConfig: z.string().min(1).optional(),
    /**
     * Versions' content waiting for the collector, at most (in the state folder, beside the spool);
     * beyond it a version is recorded by hash and size only (`content_kept: false`).
     */
    maxPendingBytes: bytes(1024 * 1024, 1024 ** 4).default(256 * 1024 * 1024),
    decay: memoryDecayConfig,
  })
  .prefault({});

export type MemoryWatchConfig = z.output<typeof memoryWatchConfig>;

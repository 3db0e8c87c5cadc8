import type { DocRow } from "@clawguard/shared/config/reference";

/**
 * The sidecar's config reference, in words: one row per line of the README's table, in its order.
 * The schema (config.ts) says each key's type, default and environment variable; `pnpm docs:config`
 * puts both in the README, and refuses a key without a row or a row without a key.
 */
export const SIDECAR_DOCS: readonly DocRow[] = [
  {
    keys: ["agent"],
    text: "agent name (events carry it; the collector checks it against the token)",
  },
  {
    keys: ["role"],
    text: "1-64 chars of `[A-Za-z0-9_.-]`, starting with a letter or digit (a metric label and part of alert texts; anything else is refused at start, exit 78, and by the collector, 400)",
  },
  {
    keys: ["host"],
    text: "the host this sidecar's events carry",
    default: "hostname",
    computed: true,
  },
  {
    keys: ["workspace"],
    text: "the agent's workspace: the memory files, and where the agent runs its commands",
    defaultNote: "(agent-side commands: nearest folder with `.clawguard/`)",
  },
  {
    keys: ["api.listen"],
    text: "the control API, the LLM proxy and `/readyz`; loopback by default: the agent reaches its sidecar over the shared network namespace",
  },
  {
    keys: ["api.token"],
    text: "the token every `/v1` call carries",
    default: "generated into `stateDir`",
  },
  {
    keys: ["stateDir"],
    text: "the sidecar's private state: API token, spool, dead letters, memory blobs, the watcher's state, its instance id. Must be outside the workspace (refused otherwise)",
    default:
      "`$XDG_STATE_HOME/clawguard/<agent>-<workspace id>` (`~/.local/state/...`); the image: `/var/lib/clawguard`",
  },
  {
    keys: ["inboxDir"],
    text: "where the agent-side commands (`clawguard exec`, `memory`) leave their drafts and the sidecar seals them, in place of the workspace's `.clawguard/agents/<agent>/inbox`: a folder only this agent's container and its sidecar mount (`clawguard inject` mounts the volume `clawguard-inbox-<agent>` at `/var/spool/clawguard` and sets `/var/spool/clawguard/inbox`), so that another agent on a shared workspace cannot write drafts in this one's name. Its quarantine is the folder `quarantine` beside it",
    default: "`<workspace>/.clawguard/agents/<agent>/inbox`",
  },
  {
    keys: ["binDir"],
    text: "a folder the sidecar publishes the agent-side `clawguard` into (shared with the agent's container, e.g. the image's `/opt/clawguard/bin`)",
  },
  {
    keys: ["api.bodyLimitBytes"],
    text: "largest request body on the control API",
  },
  {
    keys: ["exec.maxBytes"],
    text: "pass-through limit",
  },
  {
    keys: ["exec.previewBytes"],
    text: "preview budget",
  },
  {
    keys: ["exec.timeoutMs"],
    text: "then SIGTERM to the process group",
  },
  {
    keys: ["exec.killGraceMs"],
    text: "SIGTERM to SIGKILL",
  },
  {
    keys: ["exec.policy.default", "exec.policy.allow", "exec.policy.deny"],
    text: "globs on each program's command line (after wrappers, scripts, PATH, symlinks) or `/regex/`; deny wins; `default: deny` is the allow-list (see Exec policy)",
  },
  {
    keys: ["exec.onAuditFailure"],
    text: "no room for a command's `exec.started` event (or its output): `refuse` (exit 126), or `run` it anyway and say so on stderr",
  },
  {
    keys: ["exec.spill.maxBytes", "exec.spill.retentionMs", "exec.spill.sweepIntervalMs"],
    text: "the sidecar deletes spills older than the retention, then the oldest over the cap (a `spill.expired` event)",
  },
  {
    keys: ["api.diskLow.minFreeBytes", "api.diskLow.minFreePercent"],
    text: "`/readyz` lists `disk_low` (degraded) under the smaller of the two on the workspace's or the state dir's filesystem",
  },
  {
    keys: ["spool.maxBytes", "spool.segmentBytes"],
    text: 'maxBytes at least 2 x segmentBytes (`--check` refuses less: only whole acknowledged segments are freed); once everything is acknowledged a more than half-full spool rolls its active segment away, so "full" clears',
  },
  {
    keys: ["spool.fsync"],
    text: "`always`: fsync before an append returns; `interval`: every `spool.fsyncIntervalMs`; `never`: leave it to the OS",
  },
  {
    keys: ["spool.dir"],
    text: "where the spool's segments are kept",
    default: "`<stateDir>/spool`",
  },
  {
    keys: ["spool.fsyncIntervalMs"],
    text: "with `fsync: interval`",
  },
  {
    keys: ["spool.sealKey"],
    text: "32+ chars; the sidecar's own secret, never a file in the workspace",
    default: "none: events unsealed (a warning)",
  },
  {
    keys: ["spool.sealKeyId"],
    text: "sent with every seal; a new id with each new key",
  },
  {
    keys: ["shipper.url"],
    text: "the collector's base URL",
  },
  {
    keys: ["shipper.token"],
    text: "this sidecar's collector token",
    default: "required",
  },
  {
    keys: ["shipper.batchMaxEvents", "shipper.batchMaxBytes"],
    text: "one batch to the collector",
  },
  {
    keys: ["shipper.timeoutMs"],
    text: "per batch",
  },
  {
    keys: ["shipper.backoffMinMs", "shipper.backoffMaxMs"],
    text: "between retries while the collector is down or refuses",
  },
  {
    keys: ["llm.providers.<id>.upstream"],
    text: "the provider's real base URL (`https://api.openai.com/v1`, `https://api.anthropic.com`)",
    default: "from `openclawConfig`",
  },
  {
    keys: ["llm.providers.<id>.api"],
    text: "the provider's API family: how its requests, responses and errors are read",
    default: "from `openclawConfig`",
  },
  {
    keys: ["llm.providers.<id>.models"],
    text: "`[{id, contextWindow, maxTokens}]`: the window and the default output reserve",
    defaultNote: "(else from `openclawConfig`)",
  },
  {
    keys: ["llm.providers.<id>.defaultContextWindow"],
    text: "for unlisted models (else they pass unguarded)",
  },
  {
    keys: ["llm.providers.<id>.countEndpoint"],
    text: "`{kind: anthropic\\|vllm, timeoutMs: 500}`: the provider's own count for requests the guard is unsure about",
  },
  {
    keys: ["llm.providers.<id>.tokenizer", "llm.providers.<id>.models[].tokenizer"],
    text: "a family (`openai`, `claude`, `llama`, `qwen`, ...), `o200k_base`, `cl100k_base` or `claude-4.7` (all in the type); the model's wins over the provider's, both over the name",
    default: "from the model's name",
  },
  {
    keys: ["llm.providers.<id>.apiKey"],
    text: "`{env}`/`{file}`: injected upstream instead",
    default: "none: the agent's own credential passes",
  },
  {
    keys: ["llm.openclawConfig"],
    text: "an `openclaw.json` (JSON5) whose `models.providers` supply the above (a `baseUrl` already pointing at a sidecar is not taken as upstream)",
  },
  {
    keys: ["llm.marginRatio"],
    text: "the count's relative error bound before calibration narrows it (sets the unsure band)",
    default: "the tokenizer's own bound",
  },
  {
    keys: ["llm.spillToolOutputsAboveTokens"],
    text: "tool outputs above this many tokens are spilled first when a request is over budget",
  },
  {
    keys: ["llm.defaultReserveTokens"],
    text: "output reserve when neither request nor model says",
  },
  {
    keys: ["llm.maxRequestBytes"],
    text: "413 above",
  },
  {
    keys: ["llm.maxPendingBodyBytes"],
    text: "request bodies being received at once, all requests together: 503 with `Retry-After` beyond (uploads held open cannot run the sidecar out of memory)",
  },
  {
    keys: ["llm.retryOnOverflow"],
    text: "after a provider's own overflow error (nothing sent yet), trim harder and retry once",
  },
  {
    keys: ["llm.authCheckIntervalMs"],
    text: "`0`: off",
  },
  {
    keys: ["llm.headersTimeoutMs", "llm.bodyTimeoutMs"],
    text: "until the response headers arrive (a long prompt can take minutes to start); between two chunks of a response",
  },
  {
    keys: ["llm.captureContent"],
    text: "message content on the LLM spans (off: no content is recorded)",
  },
  {
    keys: ["memory.globs"],
    text: "relative to the workspace (the memory files and OpenClaw's bootstrap files), in order: `!glob` leaves out what the globs before it matched (the last match decides); `*`/`**` never match a name starting with a dot, a glob that names one does (`.notes/*.md`)",
  },
  {
    keys: ["memory.settleMs"],
    text: "a change is reported once the file is quiet this long",
  },
  {
    keys: ["memory.dailyMaxBytes"],
    text: "a daily log (`memory/YYYY-MM-DD.md`) over this is oversize",
  },
  {
    keys: ["memory.maxPendingBytes"],
    text: "versions' content waiting for the collector (in `stateDir`, beside the spool): beyond it a version is recorded by hash and size only (`content_kept: false`, warn), so the agent's memory writes cannot fill the disk the audit trail needs",
  },
  {
    keys: ["memory.bootstrapMaxChars"],
    text: "the injection cap of bootstrap files",
    default: "from `openclaw.json`, else `20000`",
  },
  {
    keys: ["memory.openclawConfig"],
    text: "the agent's `openclaw.json`, for its bootstrap cap",
    default: "that of `llm.openclawConfig`",
  },
  {
    keys: [
      "memory.decay.dailyToWeeklyDays",
      "memory.decay.weeklyToArchiveDays",
      "memory.decay.trashRetentionDays",
      "memory.decay.temporaryRetentionDays",
    ],
    text: '"older than N days"',
  },
  {
    keys: ["memory.decay.timeZone"],
    text: "the calendar the dates in file names are read in",
  },
  {
    keys: ["memory.decay.enabled", "memory.decay.intervalMs"],
    text: "the sidecar's own runs",
  },
  {
    keys: ["memory.decay.lockStaleMs"],
    text: "a decay run's lock older than this (its holder gone) is taken over",
  },
  {
    keys: ["probe.probes"],
    text: '`[{name, kind: http\\|chat\\|tcp\\|command, severity: critical\\|degraded, timeoutMs, intervalMs, ...}]` (`intervalMs`: run this probe only that often, default every round; a `chat` probe every 10 s): `http` `{url, expectStatus, expectBody, token}`, `chat` `{url, agent, message, maxTokens, session, sessionTurns, token}` (a real message, model `openclaw/<agent>`; defaults `main`, "Reply with the single word: pong", `64`, `clawguard-probe`, `50`), `tcp` `{host, port}`, `command` `{argv}`',
  },
  {
    keys: ["probe.intervalMs", "probe.timeoutMs"],
    text: 'a dead gateway fails 3 rounds within 12 s (one that hangs, 21 s): "gateway down" within 30 s',
  },
  {
    keys: ["probe.failuresToFail", "probe.successesToPass"],
    text: "in a row, before a probe changes state",
  },
  {
    keys: ["heartbeat.intervalMs", "heartbeat.enabled"],
    text: "to the collector (`shipper.url`, `shipper.token`); stale after `fleet.staleFactor` (3) of them: 15 s",
  },
  {
    keys: ["heartbeat.maxClockSkewMs"],
    text: "this clock further than this from the collector's (measured on each heartbeat) is flagged in `/readyz`",
  },
];

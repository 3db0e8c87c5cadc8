import type { DocRow } from "@clawguard/shared/config/reference";

/**
 * The collector's config reference, in words: one row per line of the README's table, in its order.
 * The schema (config.ts) says each key's type, default and environment variable; `pnpm docs:config`
 * puts both in the README, and refuses a key without a row or a row without a key.
 */
export const COLLECTOR_DOCS: readonly DocRow[] = [
  {
    keys: ["listen"],
    text: "the API the sidecars, the CLI and `/metrics` scrapes reach; loopback by default: set `0.0.0.0:18800` in a container that sidecars reach over the network",
  },
  {
    keys: ["host"],
    text: "the collector's own events carry it",
    default: "hostname",
    computed: true,
  },
  {
    keys: ["database.url"],
    text: "migrations applied at start",
    default: "none: embedded PGlite in `dataDir`",
  },
  {
    keys: ["database.poolMax"],
    text: "PostgreSQL connections; a PostgreSQL not up yet at start (refused, starting up) is waited for, up to a minute, each retry logged",
  },
  {
    keys: ["dataDir"],
    text: "the embedded store's data directory (PGlite), used when no database URL is set",
  },
  {
    keys: ["ingest.bodyLimitBytes", "ingest.maxBatchEvents"],
    text: "the largest ingest request body; the most events in one batch",
  },
  {
    keys: ["ingest.blobLimitBytes"],
    text: "largest memory file version `PUT /v1/blobs/:sha256` takes",
  },
  {
    keys: ["ingest.orphanBlobTtlMs"],
    text: "content arrives before its `memory.changed` event; content no event named (its sidecar died in between) is deleted, hourly, once this old",
  },
  {
    keys: ["auth.sidecars", "auth.sidecarTokensFile"],
    text: "`agent token` per line",
    defaultNote: "(one of them is required)",
  },
  {
    keys: ["auth.sidecars[].sealKeys", "auth.sealKeysFile"],
    text: "`[{id, key}]` / `agent keyId key` per line: the current key and at most one previous one per agent; set, every event of the agent must carry a seal made with one of them",
    default: "none: that agent's events are not checked for seals",
  },
  {
    keys: ["auth.readToken"],
    text: "for `/v1/audit*`, fleet, incidents, memory",
    default: "required",
  },
  {
    keys: ["redis.url"],
    text: "several collector replicas share it",
    default: "none: liveness in process (one replica)",
  },
  {
    keys: ["redis.keyPrefix"],
    text: "prepended to every key this collector writes",
  },
  {
    keys: ["fleet.staleFactor", "fleet.sweepMs"],
    text: "stale after factor \u00d7 the agent's heartbeat interval",
  },
  {
    keys: ["fleet.maxClockSkewMs"],
    text: "an agent whose clock is further than this from the collector's is flagged (`clockOffset.skewed`, `clawguard fleet`)",
  },
  {
    keys: ["ingest.timeBackwardsToleranceMs"],
    text: "an agent's time going back by more than this between consecutive events of its chain is stored and recorded as an `audit.integrity` finding (`clock_backwards`, warn)",
  },
  {
    keys: ["controller.groups"],
    text: "`[{name, primary, standby, targets: {agent: url}}]`",
    defaultNote: "(no controller, unless `controller.restart` names agents or roles)",
  },
  {
    keys: ["controller.actuator.kind"],
    text: "how the controller restarts, stops (fences) and starts a gateway: `command`, `webhook` or `docker`; a field of another kind is refused, as is a missing one",
  },
  {
    keys: ["controller.actuator.start", "controller.actuator.stop", "controller.actuator.restart"],
    text: 'argv templates; `{agent}`, `{target}`, `{port}` (the target\'s) and `{token}` (the fencing token) are filled in; exit 0 is success, e.g. `["docker", "start", "{agent}"]`',
    default: "required for `command` (`restart`: stop, then start)",
  },
  {
    keys: ["controller.actuator.url", "controller.actuator.token"],
    text: "POSTed `{action, agent, target, token}` as JSON, where `token` is the fencing token (an orchestrator that remembers the highest one it has seen can refuse a former leader); the `token` field is the bearer token (a secret reference); any 2xx is success",
    default: "required for `webhook`, none",
  },
  {
    keys: ["controller.actuator.socket", "controller.actuator.stopTimeoutSeconds"],
    text: "`docker`: the Docker Engine API over its unix socket (mount it into the collector's container, readable by its user), Engine API version 1.44 (Docker 25 and later; Docker 29 refuses older versions). `POST /containers/<id>/restart?t=N`, `stop?t=N` (then an inspection confirms it is not running), `start`; already stopped or started is fine. There is no `{token}`: Docker cannot check one, so the controller checks that it still holds the lease before every step instead. `docker` needs exactly one of `container` and `compose`",
  },
  {
    keys: ["controller.actuator.container"],
    text: "`docker`, one container per agent: its name, a template with `{agent}`, `{target}`, `{port}` (e.g. `{agent}` for `docker run --name`, or a Compose `container_name`); a missing container fails the step naming it",
  },
  {
    keys: ["controller.actuator.compose.project", "controller.actuator.compose.sidecarSuffix"],
    text: "`docker`, for `clawguard inject`'s deployments (inject writes it, and the groups, for its HA gateways: see Deploying): each agent is the Compose service of its name, with its sidecar, the service `<agent><sidecarSuffix>` in its network namespace. Both are found at every action by the labels Compose puts on them (`com.docker.compose.project`, `com.docker.compose.service`, `com.docker.compose.oneoff=False`: `GET /containers/json?all=true&filters=...`), whatever the containers are named, and handled as a pod: start the agent, then its sidecar (restarted instead if it was still running: it would sit in the agent's old namespace); stop the sidecar, then the agent (confirmed); restart the agent, then the sidecar (Docker leaves it in the agent's old namespace otherwise). The agent's service must have exactly one container (none or several fails the step, naming them; a standby in a profile must have been created, `docker compose --profile <p> create <standby> <standby>-clawguard`); a sidecar that is missing or fails is logged as a warning and the agent's step goes on (a failover is not undone for want of a sidecar, but that agent is not heard from until its sidecar runs). `project` is required: a controller that can stop containers must never act on another deployment of the same file",
  },
  {
    keys: ["controller.actuator.timeoutMs"],
    text: "per action (`docker`: per Engine call, and more than `stopTimeoutSeconds`)",
  },
  {
    keys: ["controller.restart.agents", "controller.restart.roles", "controller.restart.targets"],
    text: "agents with no standby restarted in place like a group's primary (hysteresis, backoff, budget; stale ones too: a container that died may come back), those named in `agents` and every agent whose heartbeat role is in `roles` (e.g. `[\"sub-agent\", \"bot\"]`); a gateway group's agents never (naming one is refused). When the budget is spent the controller holds and records why in the agent's incident. `targets` (`{agent: url}`) fills `{target}`/`{port}` for those that have one; a restart template (`restart`, or `stop` and `start` without it; docker's `container`) that uses `{target}` or `{port}` is refused at start when a named agent has no target or `roles` is set. The webhook sends `target: null` for an agent without one",
  },
  {
    keys: [
      "controller.unhealthyForMs",
      "controller.restartBudget",
      "controller.restartWindowMs",
      "controller.restartBackoffMs",
      "controller.minFailoverIntervalMs",
      "controller.holdStaleShare",
      "controller.holdMinStale",
    ],
    text: "the partition hold: more than `holdStaleShare` of the fleet and at least `holdMinStale` agents stale at once",
  },
  {
    keys: [
      "controller.tickMs",
      "controller.downTimeoutMs",
      "controller.readyTimeoutMs",
      "controller.leaseTtlMs",
    ],
    text: "`tickMs` at most half of `leaseTtlMs` (the lease is renewed every tick; refused at start otherwise)",
  },
  {
    keys: ["alerts.evaluateMs", "alerts.repeatMs", "alerts.gatewayDownForMs", "alerts.agentDownForMs"],
    text: 'how often the collector\'s alert rules run, how often a firing alert is sent again, how long a gateway is down before "gateway down" (P0) fires, and any other agent before "agent down" (P1)',
  },
  {
    keys: ["alerts.pageUrl"],
    text: "a link to the fleet page in every notification",
  },
  {
    keys: [
      "alerts.errorRate.threshold",
      "alerts.errorRate.windowMs",
      "alerts.errorRate.minCalls",
      "alerts.errorRate.resolveForMs",
    ],
    text: "P1: the share of an agent's LLM calls that failed with a 400 (overflow and other 4xx), a 5xx or no answer (not 401/403/407, not 429) over the window, once it made this many; a firing error-rate or latency alert resolves once its condition has been false for `resolveForMs`",
  },
  {
    keys: ["alerts.latencyP95Seconds"],
    text: "P2: an agent's p95 LLM call duration over `errorRate.windowMs`",
  },
  {
    keys: ["alerts.cacheHitTarget"],
    text: "P2: prompt-cache hit share under this",
  },
  {
    keys: ["alerts.spoolBacklogMax", "alerts.spoolBacklogForMs"],
    text: "P2: events waiting in an agent's spool for that long",
  },
  {
    keys: ["alerts.driftForMs", "alerts.failoverWindowMs"],
    text: "P2: config drift in a role for that long; a failover within the window",
  },
  {
    keys: [
      "alerts.group.waitMs",
      "alerts.group.maxAgents",
      "alerts.group.intervalMs.P0",
      "alerts.group.intervalMs.P1",
      "alerts.group.intervalMs.P2",
    ],
    text: "notifications grouped per rule: a group's first post waits `waitMs` (at most every interval), the next ones the rule's severity's interval since the last; a post lists `maxAgents` agents, then \"+K more\"",
  },
  {
    keys: [
      "alerts.silences[].alert",
      "alerts.silences[].agent",
      "alerts.silences[].until",
      "alerts.silences[].reason",
    ],
    text: "silence an alert and/or an agent until a time (recorded, not sent)",
    default: "none",
  },
  {
    keys: ["alerts.mattermost[].url", "alerts.mattermost[].channel"],
    text: "Mattermost incoming webhooks (`url`: a secret reference)",
    default: "none",
  },
  {
    keys: ["alerts.webhooks[].url"],
    text: "generic webhooks, POSTed the alert as JSON (`url`: a secret reference)",
    default: "none",
  },
  {
    keys: [
      "metrics.maxAgents",
      "metrics.llmSeriesPerAgent",
      "metrics.memoryFilesPerAgent",
      "metrics.probesPerAgent",
    ],
    text: "`GET /metrics`'s bounds: agents with series of their own (the first by name), an agent's provider/model pairs with labels of their own (the rest added up as `other`), its largest memory files, its first probes; what is left out is counted in `clawguard_metrics_capped{kind}`",
  },
  {
    keys: ["metrics.cacheMs"],
    text: "a render of `/metrics` served again to scrapes within this long (and shared by those that ask while it runs)",
  },
];

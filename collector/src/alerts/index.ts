/**
 * The collector's alerting (see engine.ts): the engine evaluates the rules (rules.ts) and decides;
 * state.ts keeps its state under the lease, notifier.ts claims, records and groups the notices
 * (group.ts), delivery.ts sends them (notify.ts), audit.ts records what happened.
 */
export { type AlertClaims, redisClaims } from "./claims.ts";
export { AlertEngine, type AlertEngineOptions } from "./engine.ts";
export type { ActiveAlert } from "./state.ts";
export { alertTargets } from "./targets.ts";

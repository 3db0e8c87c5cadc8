import { resolveSecret } from "@clawguard/shared/config/load";
import { describeError } from "@clawguard/shared/errors";
import type { AlertsConfig } from "./config.ts";
import { safeTarget, type Target } from "./notify.ts";

/** The webhook targets of the config, their secrets read; every one that cannot be is a problem. */
export function alertTargets(
  config: AlertsConfig,
  env: NodeJS.ProcessEnv,
): { targets: Target[]; problems: string[] } {
  const problems: string[] = [];
  const url = (ref: AlertsConfig["webhooks"][number]["url"], where: string) => {
    try {
      const value = resolveSecret(ref, env, where);
      if (value && /^https?:\/\/./.test(value) && URL.canParse(value)) return value;
      problems.push(`${where}: expected an http(s) URL from env or file`);
    } catch (err) {
      problems.push(describeError(err));
    }
    return undefined;
  };
  const targets: Target[] = [];
  config.mattermost.forEach((m, i) => {
    const u = url(m.url, `alerts.mattermost[${i}].url`);
    if (u)
      targets.push({ kind: "mattermost", name: `mattermost ${safeTarget(u)}`, url: u, channel: m.channel });
  });
  config.webhooks.forEach((w, i) => {
    const u = url(w.url, `alerts.webhooks[${i}].url`);
    if (u) targets.push({ kind: "webhook", name: `webhook ${safeTarget(u)}`, url: u });
  });
  return { targets, problems };
}

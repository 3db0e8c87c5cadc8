/**
 * How the user runs clawguard again, as they ran it this time, for the hints a command prints: through
 * `npx -y pnpm@<version>` when npx fetched pnpm for the run (then there is no pnpm on their PATH),
 * through pnpm when a package script ran it (`pnpm clawguard`, `pnpm start`), else by the name on
 * PATH (an installed bin; the agent-side CLI in an agent's container).
 */
export function launcher(env: NodeJS.ProcessEnv): string {
  const pnpm = /\bpnpm\/(\d+\.\d+\.\d+)/.exec(env.npm_config_user_agent ?? "")?.[1];
  if (pnpm && /[/\\]_npx[/\\]/.test(env.npm_execpath ?? "")) return `npx -y pnpm@${pnpm} clawguard`;
  if (env.npm_lifecycle_event) return "pnpm clawguard";
  return "clawguard";
}

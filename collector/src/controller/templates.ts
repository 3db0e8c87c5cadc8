/** Fills `{name}` placeholders; an unknown placeholder is left as it is. */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/**
 * The placeholders every actuator template has: {agent}, {target} and {port} (the target's; both
 * empty for an agent without one, which the config refuses where a template uses them).
 */
export function placeholders(agent: string, target: string | undefined): Record<string, string> {
  return { agent, target: target ?? "", port: target ? new URL(target).port : "" };
}

/** Whether a template uses {target} or {port}, which an agent without a target cannot fill. */
export function needsTarget(template: string): boolean {
  return /\{(target|port)\}/.test(template);
}

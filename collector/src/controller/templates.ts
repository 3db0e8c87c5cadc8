/** Fills `{name}` placeholders; an unknown placeholder is left as it is. */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** The placeholders every actuator template has: {agent}, {target} and {port} (the target's). */
export function placeholders(agent: string, target: string): Record<string, string> {
  return { agent, target, port: new URL(target).port };
}

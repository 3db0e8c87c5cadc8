/**
 * What `clawguard config` refuses. Deploy does not depend on `@clawguard/shared`, so this mirrors its
 * error shape (a stable `code`) and adds where in the tree the problem is.
 */
export class ConfigTreeError extends Error {
  readonly code = "input.invalid";
  /** The file, relative to the tree directory, when there is one. */
  readonly file: string | undefined;
  /** The JSON path inside it: `models.providers.openai.apiKey`. */
  readonly path: string | undefined;

  constructor(message: string, where: { file?: string; path?: string } = {}) {
    super(message);
    this.name = "ConfigTreeError";
    this.file = where.file;
    this.path = where.path;
  }
}

/** One thing wrong with a tree or a rendered config: the file to edit, the path in it, what is wrong. */
export interface Problem {
  file: string;
  /** JSON path in the agent's openclaw.json (in an agent file these keys sit under `config:`); "" for the file. */
  path: string;
  message: string;
  /** The agents whose rendered config shows the problem, when it comes from rendering. */
  agents?: string[];
}

export function formatProblem(p: Problem): string {
  const where = p.path ? `${p.file}: ${p.path}` : p.file;
  const agents = p.agents && p.agents.length > 0 ? ` [agents: ${p.agents.join(", ")}]` : "";
  return `${where}: ${p.message}${agents}`;
}

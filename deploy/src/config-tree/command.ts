import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "@clawguard/shared/fs-atomic";
import JSON5 from "json5";
import type { Command, Io } from "../inject/command.ts";
import { diffConfigs, formatChanges } from "./diff.ts";
import { formatProblem, type Problem } from "./errors.ts";
import { badAgentName, loadTree, type Tree } from "./load.ts";
import { findOpenClaw, type OpenClawCli, openclawProblems } from "./openclaw-check.ts";
import { formatJson, renderTree } from "./render.ts";
import { mergeAgentProblems, validateTree } from "./validate.ts";

const help = `Usage: clawguard config <render|validate|diff> <tree-dir> [options]

One config tree, rendered into each agent's OpenClaw config (~/.openclaw/openclaw.json):
  <tree>/base.yaml            what every agent gets
  <tree>/roles/<role>.yaml    overlay per role: gateway, sub-agent, bot
  <tree>/agents/<name>.yaml   role: <role>, and an optional config: overlay for that agent
Layers merge in that order: objects merge key by key, anything else (arrays too) replaces;
{ $replace: VALUE } replaces without merging, { $delete: true } removes the key.

  render <tree> --agent NAME       print NAME's openclaw.json
  render <tree> -o DIR [--agent NAME]
                                   write DIR/<agent>/openclaw.json for every agent (or NAME), atomically
  validate <tree> [--agent NAME] [--openclaw DIR | --no-openclaw]
                                   list every problem with its file and JSON path; when the
                                   \`openclaw\` package is installed here (or on PATH, or --openclaw
                                   names its folder), each rendered config also goes through
                                   OpenClaw's own validator (\`openclaw config validate\`), once
                                   clawguard's rules pass: unknown
                                   keys, types, retired shapes it would rewrite at start
  diff <tree> --agent NAME --deployed FILE [--ignore PATH]...
                                   rendered vs deployed (JSON5), secrets masked; --ignore skips a path
                                   and what is below it (default: meta, which OpenClaw stamps itself)

Validation: gateway.mode; at least one provider under models.providers, each with baseUrl
http://127.0.0.1:18801/llm/<id> (the clawguard sidecar), api, models, and apiKey as a reference
("\${VAR}" or { source: env|file|exec|store, provider, id }); agents.defaults.model.primary (and
fallbacks) = "<provider>/<model>" naming a defined provider and model; no secret written in any file.
render refuses (writes nothing) while validate finds a problem.

Exit codes: 0 done / valid / no difference, 1 problems / differences, 2 bad input or usage (nothing written).`;

class UsageError extends Error {}

function listProblems(io: Io, treeArg: string, problems: Problem[]): void {
  io.out(problems.map((p) => `${formatProblem({ ...p, file: join(treeArg, p.file) })}\n`).join(""));
}

/** The tree, or undefined after printing why it cannot be read (exit 2: bad input). */
function load(io: Io, treeArg: string, sub: string): Tree | undefined {
  const { tree, problems } = loadTree(resolve(io.cwd, treeArg));
  if (tree) return tree;
  io.err(`clawguard config ${sub}: ${treeArg}: cannot read the tree (${problems.length} problems):\n`);
  listProblems(io, treeArg, problems);
  return undefined;
}

function checkAgent(tree: Tree, name: string | undefined): void {
  if (name === undefined) return;
  const bad = badAgentName(name);
  if (bad) throw new UsageError(`--agent: ${bad}`);
  if (!tree.agents.has(name)) {
    throw new UsageError(`--agent: no agents/${name}.yaml (agents: ${[...tree.agents.keys()].join(", ")})`);
  }
}

async function render(io: Io, treeArg: string, values: Values): Promise<number> {
  const agent = str(values.agent);
  const out = str(values.output);
  if (agent === undefined && out === undefined) throw new UsageError("render: give --agent NAME or -o DIR");
  if (agent !== undefined) {
    const bad = badAgentName(agent);
    if (bad) throw new UsageError(`--agent: ${bad}`);
  }
  const tree = load(io, treeArg, "render");
  if (!tree) return 2;
  checkAgent(tree, agent);
  const problems = validateTree(tree, agent);
  if (problems.length > 0) {
    io.err(`clawguard config render: ${treeArg}: ${problems.length} problems, nothing written:\n`);
    listProblems(io, treeArg, problems);
    return 1;
  }
  const { rendered } = renderTree(tree, agent);
  if (out === undefined) {
    io.out(formatJson(rendered[0]?.config));
    return 0;
  }
  const dir = resolve(io.cwd, out);
  for (const r of rendered) {
    mkdirSync(join(dir, r.agent.name), { recursive: true });
    writeFileAtomic(join(dir, r.agent.name, "openclaw.json"), formatJson(r.config), 0o644);
  }
  io.err(`wrote ${rendered.map((r) => join(out, r.agent.name, "openclaw.json")).join(", ")}\n`);
  return 0;
}

async function validate(io: Io, treeArg: string, values: Values): Promise<number> {
  const agent = str(values.agent);
  const { tree, problems: loadProblems } = loadTree(resolve(io.cwd, treeArg));
  if (tree) checkAgent(tree, agent);
  // No tree at all is bad input (2); problems found in a tree are the answer asked for (1).
  if (loadProblems.some((p) => p.file === "")) {
    listProblems(io, treeArg, loadProblems);
    return 2;
  }
  const problems = tree ? validateTree(tree, agent) : loadProblems;
  const checked = tree && problems.length === 0 ? await withOpenClaw(io, tree, agent, values, problems) : "";
  if (problems.length === 0) {
    io.out(`${treeArg}: valid (${agent === undefined ? `${tree?.agents.size} agents` : agent}${checked})\n`);
    return 0;
  }
  listProblems(io, treeArg, problems);
  const files = new Set(problems.map((p) => p.file)).size;
  io.err(
    `${problems.length} problem${problems.length === 1 ? "" : "s"} in ${files} file${files === 1 ? "" : "s"}\n`,
  );
  return 1;
}

/**
 * OpenClaw's own validator over each rendered config, when the user has the `openclaw` package
 * (or `--openclaw` names it); its problems are added to `problems`. Says on stderr what checked.
 */
async function withOpenClaw(
  io: Io,
  tree: Tree,
  agent: string | undefined,
  values: Values,
  problems: Problem[],
) {
  if (values["no-openclaw"]) return "";
  let cli: OpenClawCli | undefined;
  try {
    cli = findOpenClaw(io.cwd, str(values.openclaw), io.env);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!cli) {
    io.err(
      "clawguard config validate: OpenClaw's own validator not found (no `openclaw` package here or on PATH): checked by clawguard's rules only; --openclaw DIR names an install\n",
    );
    return "";
  }
  const { rendered } = renderTree(tree, agent);
  const version = cli.version ? `OpenClaw ${cli.version}` : "OpenClaw";
  io.err(`checking with ${version}'s validator (${cli.where}): ${rendered.length} configs\n`);
  const found = await openclawProblems(cli, rendered, (done, total) => {
    if (total > 2) io.err(`  ${done}/${total}\n`);
  });
  mergeAgentProblems(found, problems);
  return `, by clawguard's rules and ${version}'s validator`;
}

async function diff(io: Io, treeArg: string, values: Values): Promise<number> {
  const agent = str(values.agent);
  const deployedArg = str(values.deployed);
  if (agent === undefined || deployedArg === undefined)
    throw new UsageError("diff: give --agent NAME and --deployed FILE");
  const bad = badAgentName(agent);
  if (bad) throw new UsageError(`--agent: ${bad}`);
  let deployed: unknown;
  try {
    deployed = JSON5.parse(readFileSync(resolve(io.cwd, deployedArg), "utf8"));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(
      `${deployedArg}: ${e instanceof SyntaxError ? `invalid ${e.message}` : `cannot read: ${e.code ?? e.message}`}`,
    );
  }
  const tree = load(io, treeArg, "diff");
  if (!tree) return 2;
  checkAgent(tree, agent);
  const { rendered, problems } = renderTree(tree, agent);
  if (problems.length > 0 || !rendered[0]) {
    io.err(`clawguard config diff: ${treeArg}: cannot render ${agent}:\n`);
    listProblems(io, treeArg, problems);
    return 2;
  }
  const ignore = Array.isArray(values.ignore) ? values.ignore : ["meta"];
  const changes = diffConfigs(rendered[0].config, deployed, ignore);
  if (changes.length === 0) {
    io.err(`${agent}: ${deployedArg} matches the tree\n`);
    return 0;
  }
  io.out(formatChanges(changes));
  io.err(`${agent}: ${changes.length} differences between ${deployedArg} and the tree\n`);
  return 1;
}

type Values = Record<string, string | boolean | string[] | undefined>;
const str = (v: Values[string]) => (typeof v === "string" ? v : undefined);
const SUBCOMMANDS: Record<string, (io: Io, tree: string, values: Values) => Promise<number>> = {
  render,
  validate,
  diff,
};

export const configCommand: Command = {
  name: "config",
  help,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
      io.out(`${help}\n`);
      return sub === undefined ? 2 : 0;
    }
    const run = Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
    if (!run) {
      io.err(`clawguard config: unknown subcommand "${sub}": expected render, validate or diff\n`);
      return 2;
    }
    let values: Values;
    let positionals: string[];
    try {
      ({ values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        strict: true,
        options: {
          agent: { type: "string" },
          output: { type: "string", short: "o" },
          deployed: { type: "string" },
          ignore: { type: "string", multiple: true },
          openclaw: { type: "string" },
          "no-openclaw": { type: "boolean" },
          help: { type: "boolean", short: "h" },
        },
      }));
    } catch (err) {
      io.err(
        `clawguard config ${sub}: ${(err as Error).message.split("\n")[0]}\nRun: clawguard config --help\n`,
      );
      return 2;
    }
    if (values.help) {
      io.out(`${help}\n`);
      return 0;
    }
    try {
      if (positionals.length !== 1)
        throw new UsageError(`expected one tree directory, got ${positionals.length}`);
      for (const [opt, only] of [
        ["output", "render"],
        ["deployed", "diff"],
        ["ignore", "diff"],
        ["openclaw", "validate"],
        ["no-openclaw", "validate"],
      ] as const) {
        if (values[opt] !== undefined && sub !== only) throw new UsageError(`--${opt} is for ${only}`);
      }
      return await run(io, positionals[0] as string, values);
    } catch (err) {
      if (err instanceof UsageError) {
        io.err(`clawguard config ${sub}: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  },
};

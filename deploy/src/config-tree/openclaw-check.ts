import { spawn } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import type { Problem } from "./errors.ts";
import { formatPath, type Segment } from "./paths.ts";
import { formatJson, type Rendered } from "./render.ts";

/**
 * OpenClaw's own check of a rendered `openclaw.json`: `openclaw config validate --json`, run by the
 * `openclaw` package the user has (clawguard ships none). It knows what clawguard's rules do not:
 * every key of its schema (unknown keys refused), types, and retired shapes it migrates with a
 * warning (`agents.list`, `default` markers). Each config is written to a private folder and checked
 * there, with a private OpenClaw state and home, so the user's own `~/.openclaw` is never read.
 */
export interface OpenClawCli {
  /** The command and its first arguments: `[node, openclaw.mjs]` or `[openclaw]`. */
  argv: string[];
  /** Where it was found, for the report. */
  where: string;
  version: string | undefined;
}

const TIMEOUT_MS = 60_000;

function packageCli(pkgDir: string): OpenClawCli | undefined {
  const entry = join(pkgDir, "openclaw.mjs");
  if (!existsSync(entry)) return undefined;
  let version: string | undefined;
  try {
    version = String(JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version);
  } catch {
    version = undefined;
  }
  return { argv: [process.execPath, entry], where: pkgDir, version };
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {}
  }
  return undefined;
}

/**
 * `explicit` (a package folder, its `openclaw.mjs`, or an executable), else the `openclaw` package
 * resolvable from `cwd`, else `openclaw` on PATH. Throws when `explicit` names nothing usable.
 */
export function findOpenClaw(cwd: string, explicit?: string, env = process.env): OpenClawCli | undefined {
  if (explicit !== undefined) {
    const path = resolve(cwd, explicit);
    if (!existsSync(path)) throw new Error(`--openclaw ${explicit}: no such file or folder`);
    if (statSync(path).isDirectory()) {
      const cli = packageCli(path) ?? packageCli(join(path, "node_modules", "openclaw"));
      if (!cli)
        throw new Error(
          `--openclaw ${explicit}: no openclaw.mjs in that folder or its node_modules/openclaw`,
        );
      return cli;
    }
    if (/\.(mjs|js)$/.test(path))
      return packageCli(dirname(path)) ?? { argv: [process.execPath, path], where: path, version: undefined };
    return { argv: [path], where: path, version: undefined };
  }
  try {
    const pkg = createRequire(join(cwd, "noop.js")).resolve("openclaw/package.json");
    const cli = packageCli(dirname(pkg));
    if (cli) return cli;
  } catch {}
  const bin = onPath("openclaw", env);
  return bin ? { argv: [bin], where: bin, version: undefined } : undefined;
}

interface Verdict {
  valid?: boolean;
  issues?: { path?: string; message?: string }[];
  warnings?: { path?: string; message?: string }[];
}

function run(
  cli: OpenClawCli,
  file: string,
  home: string,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    // A clean environment: none of the user's OPENCLAW_* settings (a profile, another config) and
    // no test runner's markers (under VITEST, OpenClaw's entry point does nothing).
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      OPENCLAW_CONFIG_PATH: file,
      OPENCLAW_STATE_DIR: join(home, "state"),
      OPENCLAW_HOME: home,
      NO_COLOR: "1",
    };
    const [cmd, ...args] = cli.argv as [string, ...string[]];
    const child = spawn(cmd, [...args, "config", "validate", "--json"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.on("error", (e) => {
      clearTimeout(timer);
      done({ code: null, out, err: `${err}${e.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, out, err });
    });
  });
}

/** The JSON object OpenClaw printed (it may log lines before it). */
function verdictOf(out: string): Verdict | undefined {
  const start = out.indexOf("{");
  if (start < 0) return undefined;
  try {
    return JSON.parse(out.slice(start)) as Verdict;
  } catch {
    return undefined;
  }
}

const segmentsOf = (path: string): Segment[] =>
  path === "" ? [] : path.split(".").map((s) => (/^\d+$/.test(s) ? Number(s) : s));

/** One agent's config through OpenClaw: its issues and every warning but a missing `${VAR}` (set at deploy). */
async function checkOne(cli: OpenClawCli, r: Rendered): Promise<Problem[]> {
  const home = mkdtempSync(join(tmpdir(), "clawguard-openclaw-check-"));
  try {
    const file = join(home, "openclaw.json");
    writeFileSync(file, formatJson(r.config));
    const { code, out, err } = await run(cli, file, home);
    const verdict = verdictOf(out);
    if (!verdict || typeof verdict.valid !== "boolean") {
      const why = (err.trim() || out.trim() || `exit ${code}`).split("\n").slice(-3).join(" | ");
      return [{ file: r.agent.file, path: "", message: `OpenClaw's validator gave no verdict: ${why}` }];
    }
    const found = [
      ...(verdict.issues ?? []).map((i) => ({ ...i, kind: "" })),
      ...(verdict.warnings ?? [])
        .filter((w) => !/^Missing env var/.test(w.message ?? ""))
        .map((w) => ({ ...w, kind: " (OpenClaw rewrites it at start: write the current shape)" })),
    ];
    return found.map((i) => {
      // "Unrecognized key: \"x\"" is reported on the object: the key itself is what to find.
      // "Moved agents.list to ...": the old key is what the tree has.
      const key = /^Unrecognized key: "([^"]+)"$/.exec(i.message ?? "")?.[1];
      const moved = /^Moved ([\w.]+) to /.exec(i.message ?? "")?.[1];
      const path = moved
        ? segmentsOf(moved)
        : [...segmentsOf(i.path ?? ""), ...(key === undefined ? [] : [key])];
      return {
        file: r.origins.of(path, r.agent.file),
        path: formatPath(path),
        message: `OpenClaw: ${i.message ?? "invalid"}${i.kind}`,
      };
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** Every rendered config through OpenClaw's validator, a few at a time; `progress` after each. */
export async function openclawProblems(
  cli: OpenClawCli,
  rendered: readonly Rendered[],
  progress: (done: number, total: number) => void = () => {},
): Promise<Array<[agent: string, problems: Problem[]]>> {
  const results: Array<[string, Problem[]]> = [];
  let next = 0;
  const worker = async () => {
    while (next < rendered.length) {
      const r = rendered[next++] as Rendered;
      results.push([r.agent.name, await checkOne(cli, r)]);
      progress(results.length, rendered.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), rendered.length) }, worker));
  return results.sort((a, b) => a[0].localeCompare(b[0]));
}

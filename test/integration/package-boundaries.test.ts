import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { builtinModules } from "node:module";
import { delimiter, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "@clawguard/shared/testing";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * Packages match processes: what runs in the sidecar's container (the sidecar package and what it
 * imports, transitively, type-only imports included) holds nothing of the collector or of the
 * operator's toolbox, and none of the collector's dependencies. The import graph is walked with the
 * TypeScript compiler's own parser and module resolution (the workspace's tsconfig), so a path alias,
 * a re-export or a dynamic import counts as well as a plain import.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OPTIONS = ts.parseJsonConfigFileContent(
  ts.readConfigFile(join(ROOT, "tsconfig.json"), ts.sys.readFile).config,
  ts.sys,
  ROOT,
).options;
const BUILTINS = new Set(builtinModules);
/** What only the collector runs: its stores, Redis and the Prometheus client. */
const COLLECTOR_ONLY = ["pg", "@electric-sql/pglite", "prom-client", "ioredis"];
/** Tests and their helpers (`test-support.ts`, `test-backends.ts`): not in a production install. */
const TEST_ONLY = /(\.test\.ts|\/test-[^/]*\.ts)$/;

interface Graph {
  /** Repository files reached (relative to the root), each with the file that first imported it. */
  files: Map<string, string>;
  /** Packages from node_modules imported, each with one file importing it. */
  packages: Map<string, string>;
  /** Imports that resolve to nothing (a dependency taken out of package.json, for one). */
  unresolved: string[];
}

const packageName = (spec: string) =>
  spec
    .split("/")
    .slice(0, spec.startsWith("@") ? 2 : 1)
    .join("/");

/** A file's imports: import and export ... from (type-only included), and import() with a literal. */
function importsOf(file: string, dynamic: boolean): string[] {
  const source = ts.createSourceFile(file, ts.sys.readFile(file) ?? "", ts.ScriptTarget.Latest, true);
  const specs: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier)
      specs.push((node.moduleSpecifier as ts.StringLiteral).text);
    else if (
      dynamic &&
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    )
      specs.push(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specs;
}

/** Every file reachable from `entries` by its imports; `dynamic: false` leaves out import(). */
function importGraph(entries: string[], { dynamic = true } = {}): Graph {
  const graph: Graph = { files: new Map(), packages: new Map(), unresolved: [] };
  const cache = ts.createModuleResolutionCache(ROOT, (f) => f, OPTIONS);
  const queue = entries.map((f) => join(ROOT, f));
  for (const f of entries) graph.files.set(f, "(entry)");
  while (queue.length > 0) {
    const file = queue.pop() as string;
    const from = relative(ROOT, file);
    for (const spec of importsOf(file, dynamic)) {
      if (spec.startsWith("node:") || BUILTINS.has(spec)) continue;
      const resolved = ts.resolveModuleName(
        spec,
        file,
        OPTIONS,
        ts.sys,
        cache,
        undefined,
        ts.ModuleKind.ESNext,
      ).resolvedModule?.resolvedFileName;
      if (!resolved) {
        graph.unresolved.push(`${from}: ${spec}`);
      } else if (resolved.includes("/node_modules/")) {
        if (!graph.packages.has(packageName(spec))) graph.packages.set(packageName(spec), from);
      } else {
        const to = relative(ROOT, resolved);
        if (!graph.files.has(to)) {
          graph.files.set(to, from);
          queue.push(resolved);
        }
      }
    }
  }
  return graph;
}

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(dir, f));
}

const outside = (graph: Graph, prefixes: string[]) =>
  [...graph.files].filter(([f]) => prefixes.some((p) => f.startsWith(p))).map(([f, by]) => `${f} <- ${by}`);

describe("package boundaries", () => {
  it("the walk sees a package's imports: the operator's `up` reaches the collector and PGlite", () => {
    const graph = importGraph(["deploy/src/cli/commands/up.ts"]);
    expect(graph.unresolved).toEqual([]);
    expect(graph.files.has("collector/src/main.ts")).toBe(true);
    expect(graph.files.has("sidecar/src/main.ts")).toBe(true);
    expect([...graph.packages.keys()]).toEqual(expect.arrayContaining(["@electric-sql/pglite", "pg"]));
  });

  it("the sidecar package (every source, tests included) imports nothing of the collector or deploy", () => {
    const graph = importGraph(sourcesUnder("sidecar/src"));
    expect(graph.unresolved).toEqual([]);
    expect(outside(graph, ["collector/", "deploy/", "test/"])).toEqual([]);
  });

  it("the sidecar's production sources use none of the collector's dependencies", () => {
    const graph = importGraph(sourcesUnder("sidecar/src").filter((f) => !TEST_ONLY.test(f)));
    expect(outside(graph, ["shared/src/testing.ts"])).toEqual([]);
    const used = COLLECTOR_ONLY.filter((p) => graph.packages.has(p));
    expect(used.map((p) => `${p} <- ${graph.packages.get(p)}`)).toEqual([]);
  });

  it("the collector package imports nothing of the sidecar or deploy", () => {
    const graph = importGraph(sourcesUnder("collector/src"));
    expect(graph.unresolved).toEqual([]);
    expect(outside(graph, ["sidecar/", "deploy/", "test/"])).toEqual([]);
  });

  it("the umbrella CLI loads a command's package only when the command runs", () => {
    // Before any command runs: the command tables (names, summaries, loaders) and the dispatcher.
    const graph = importGraph(["deploy/src/cli/main.ts"], { dynamic: false });
    expect(graph.unresolved).toEqual([]);
    expect([...graph.files.keys()].filter((f) => !f.startsWith("shared/")).sort()).toEqual([
      "collector/src/cli/commands/index.ts",
      "deploy/src/cli/main.ts",
      "deploy/src/cli/up-token.ts",
      "sidecar/src/cli/agent-commands.ts",
      "sidecar/src/cli/commands/index.ts",
    ]);
  });
});

/** pnpm as the test run was started (a package script's npm_execpath), else the one on the PATH. */
function pnpmCommand(): [string, string[]] | undefined {
  const execpath = process.env.npm_execpath;
  if (execpath && /pnpm/.test(execpath) && existsSync(execpath)) return [process.execPath, [execpath]];
  const dir = (process.env.PATH ?? "").split(delimiter).find((d) => d && existsSync(join(d, "pnpm")));
  return dir ? [join(dir, "pnpm"), []] : undefined;
}

describe("the sidecar's production install", () => {
  const pnpm = pnpmCommand();
  if (!pnpm) console.warn("the sidecar's production install is not checked: no pnpm to run `pnpm deploy`");
  it.skipIf(!pnpm)(
    "(pnpm deploy --prod) holds the sidecar, shared and their dependencies: nothing of the collector or deploy",
    { timeout: 600_000 },
    () => {
      const out = tempDir("clawguard-sidecar-prod-");
      try {
        const [command, prefix] = pnpm as [string, string[]];
        execFileSync(
          command,
          [
            ...prefix,
            "deploy",
            "--legacy",
            "--prod",
            "--prefer-offline",
            "--filter",
            "@clawguard/sidecar",
            out.path,
          ],
          { cwd: ROOT, stdio: "pipe", timeout: 540_000 },
        );
        expect(existsSync(join(out.path, "src", "main.ts"))).toBe(true);
        expect(readdirSync(join(out.path, "node_modules", "@clawguard"))).toEqual(["shared"]);
        // `.pnpm/<name>@<version>...`, a scope's slash written as `+`: `@clawguard+shared@file+shared`.
        const installed = readdirSync(join(out.path, "node_modules", ".pnpm")).map((d) => {
          const at = d.indexOf("@", 1);
          return (at > 0 ? d.slice(0, at) : d).replace("+", "/");
        });
        expect(installed).toContain("@clawguard/shared");
        const forbidden = ["@clawguard/collector", "@clawguard/deploy", ...COLLECTOR_ONLY];
        expect(installed.filter((name) => forbidden.includes(name))).toEqual([]);
      } finally {
        out.cleanup();
      }
    },
  );
});

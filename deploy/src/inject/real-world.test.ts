import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runCommand } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { isMap, isScalar, isSeq, type Pair, parseDocument, type YAMLMap } from "yaml";
import { injectCommand } from "./command.ts";
import { composeSchemaAvailable, composeSchemaPath, validateCompose } from "./compose-schema.ts";
import { containerPorts, isPostgresImage, isRedisImage, pairOf, splitColons } from "./detect.ts";
import { InjectError } from "./errors.ts";
import { composeData, inject, removeInjection } from "./inject.ts";
import { AGENT_MOUNT, sidecarName } from "./plan.ts";
import { columnAt, fromLines, lineAt, toLines } from "./text.ts";

/**
 * Opt-in: every `*.yml` in CLAWGUARD_REAL_COMPOSE_DIR, compose files written elsewhere (none of
 * them is committed here), so the same checks run on any collection:
 *   CLAWGUARD_REAL_COMPOSE_DIR=/tmp/real-compose pnpm exec vitest run deploy/src/inject/real-world.test.ts
 * For each file:
 *   as-is     `clawguard inject FILE -o out.yml --no-openclaw` injects (the file has OpenClaw agents), or
 *             refuses with exit 2, naming the file and why, and writes nothing (--no-openclaw: an
 *             openclaw.json a file's absolute bind mount reaches on this host is read, never edited);
 *   labelled  one or two services get `clawguard.role` (gateway, sub-agent) and `clawguard.workspace`
 *             as new lines, the way a user adds them; then inject, validate against the Compose
 *             Specification, inject again (same bytes), remove (the labelled input, same bytes),
 *             every input line still there in order, unrelated keys unchanged;
 *   ha        the same gateway with `clawguard.ha: standby` (its gateway port moves to the router);
 *   openclaw  services named after OpenClaw, labelled, with inject's advice followed until it injects;
 *   each      every service labelled alone injects (all checks) or is refused with an InjectError;
 *   network_mode  a service that already has one, labelled, is refused naming that key.
 * A table of the results is printed at the end. CLAWGUARD_REAL_COMPOSE_OUT=<dir> also writes each
 * labelled input and its outputs there, to read them.
 */
const DIR = process.env.CLAWGUARD_REAL_COMPOSE_DIR;
const OUT = process.env.CLAWGUARD_REAL_COMPOSE_OUT;

// biome-ignore lint/suspicious/noExplicitAny: parsed compose files, read field by field
type Loose = any;
const js = (text: string): Record<string, Loose> =>
  (composeData(parseDocument(text, { merge: true })) ?? {}) as Record<string, Loose>;

interface Row {
  file: string;
  asIs: string;
  labelled: string;
  schema: string;
  idempotent: string;
  remove: string;
  ha: string;
  openclaw: string;
  each: string;
}
const rows = new Map<string, Row>();
const row = (file: string): Row => {
  let r = rows.get(file);
  if (!r) {
    r = {
      file,
      asIs: "-",
      labelled: "-",
      schema: "-",
      idempotent: "-",
      remove: "-",
      ha: "-",
      openclaw: "-",
      each: "-",
    };
    rows.set(file, r);
  }
  return r;
};

/**
 * The workspace a user would name for a volumes list (short or long syntax): a target ending in
 * /workspace, else the first mount that is not OpenClaw's state directory (`.openclaw`).
 */
function workspaceTarget(volumes: unknown): string | undefined {
  const targets: string[] = [];
  for (const v of Array.isArray(volumes) ? volumes : []) {
    if (typeof v === "string") {
      const parts = splitColons(v);
      if (parts.length >= 2 && parts[0] && parts[1]?.startsWith("/")) targets.push(parts[1]);
    } else if (v && typeof v === "object" && v.type !== "tmpfs" && typeof v.source === "string") {
      if (typeof v.target === "string") targets.push(v.target);
    }
  }
  return targets.find((t) => /\/workspace\/?$/.test(t)) ?? targets.find((t) => !/\/\.openclaw\/?$/.test(t));
}

interface Candidate {
  name: string;
  workspace: string;
}

/**
 * Services a user could plausibly label as agents: a block volumes list of their own with a mount,
 * their own network. Application services first, and among them those with labels already (the
 * new labels then go into the existing map or list).
 */
function candidates(text: string): Candidate[] {
  const doc = parseDocument(text, { merge: true });
  const services = pairOf(doc.contents as YAMLMap, "services")?.value;
  if (!isMap(services)) return [];
  const all = js(text).services ?? {};
  const found: (Candidate & { rank: number })[] = [];
  for (const pair of services.items as Pair[]) {
    const name = isScalar(pair.key) ? String(pair.key.value) : "";
    const service = all[name] ?? {};
    const map = pair.value;
    // A service others merge (`<<: *anchor`) would pass its labels on to them: not what the user means.
    if (!isMap(map) || map.flow || map.anchor || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) continue;
    const vols = pairOf(map, "volumes")?.value;
    const labels = pairOf(map, "labels")?.value;
    if (!isSeq(vols) || vols.flow || service.network_mode !== undefined) continue;
    const hasLabels = (isMap(labels) || isSeq(labels)) && !labels.flow && labels.items.length > 0;
    if (labels !== undefined && !hasLabels) continue;
    const workspace = workspaceTarget(service.volumes);
    if (!workspace) continue;
    const image = typeof service.image === "string" ? service.image : "";
    const backend = isPostgresImage(image) || isRedisImage(image);
    found.push({ name, workspace, rank: (backend ? 2 : 0) + (hasLabels ? 0 : 1) });
  }
  return found.sort((a, b) => a.rank - b.rank);
}

/** Adds labels to a service the way a user would: new lines, nothing else touched. */
function label(text: string, service: string, entries: Record<string, string>): string {
  const lines = toLines(text);
  const doc = parseDocument(text);
  const services = pairOf(doc.contents as YAMLMap, "services")?.value as YAMLMap;
  const map = pairOf(services, service)?.value as YAMLMap;
  const range = (n: unknown) => (n as { range: [number, number, number] }).range;
  const labels = pairOf(map, "labels");
  let at: number;
  let added: string[];
  if (labels && isMap(labels.value) && labels.value.items[0]) {
    const column = columnAt(lines, range(labels.value.items[0].key)[0]);
    at = lineAt(lines, range(labels.key)[0]);
    added = Object.entries(entries).map(([k, v]) => `${" ".repeat(column)}${k}: ${JSON.stringify(v)}`);
  } else if (labels && isSeq(labels.value) && labels.value.items[0]) {
    const column = columnAt(lines, range(labels.value)[0]);
    at = lineAt(lines, range(labels.key)[0]);
    added = Object.entries(entries).map(([k, v]) => `${" ".repeat(column)}- ${JSON.stringify(`${k}=${v}`)}`);
  } else {
    const first = map.items[0] as Pair;
    const column = columnAt(lines, range(first.key)[0]);
    const unit = column - columnAt(lines, range(pairOf(services, service)?.key)[0]);
    at = lineAt(lines, range(pairOf(services, service)?.key)[0]);
    if (labels) throw new Error(`${service}: empty labels key, not handled by this test`);
    added = [
      `${" ".repeat(column)}labels:`,
      ...Object.entries(entries).map(([k, v]) => `${" ".repeat(column + unit)}${k}: ${JSON.stringify(v)}`),
    ];
  }
  const out = [...lines.lines];
  out.splice(at + 1, 0, ...added);
  return fromLines(out, lines.eol);
}

/** Adds an entry to a service's block volumes list, first, as a user following inject's advice would. */
function addVolume(text: string, service: string, entry: string): string {
  const lines = toLines(text);
  const doc = parseDocument(text);
  const services = pairOf(doc.contents as YAMLMap, "services")?.value as YAMLMap;
  const volumes = pairOf(pairOf(services, service)?.value as YAMLMap, "volumes") as Pair;
  const range = (n: unknown) => (n as { range: [number, number, number] }).range;
  const out = [...lines.lines];
  out.splice(
    lineAt(lines, range(volumes.key)[0]) + 1,
    0,
    `${" ".repeat(columnAt(lines, range(volumes.value)[0]))}${entry}`,
  );
  return fromLines(out, lines.eol);
}

/** `needle`'s lines appear in `hay` in the same order (inject only inserts lines). */
function isSubsequence(needle: string[], hay: string[]): boolean {
  let i = 0;
  for (const line of hay) if (i < needle.length && line === needle[i]) i++;
  return i === needle.length;
}

/** Full checks on an injected file; what they found goes into `r` (for the table) before each assertion. */
function checkInjected(r: Pick<Row, "schema" | "idempotent" | "remove">, input: string, agents: string[]) {
  const out = inject(input).text;
  const problems = validateCompose(js(out));
  r.schema = problems.length === 0 ? "ok" : `FAIL ${problems[0]?.message}`;
  expect(problems).toEqual([]);
  const again = inject(out).text;
  r.idempotent = again === out ? "ok" : "FAIL";
  expect(again).toBe(out);
  const removed = removeInjection(out).text;
  r.remove = removed === input ? "ok (same bytes)" : "FAIL";
  expect(removed).toBe(input);
  // Every input line (comments, keys, blank lines) is still there, in order.
  expect(isSubsequence(toLines(input).lines, toLines(out).lines)).toBe(true);
  // Unrelated keys unchanged; agents only gain the clawguard-bin mount.
  const before = js(input);
  const after = js(out);
  for (const [name, service] of Object.entries(before.services as Record<string, Loose>)) {
    const now = after.services[name];
    if (agents.includes(name)) {
      expect(now.volumes).toEqual([...service.volumes, AGENT_MOUNT]);
      expect({ ...now, volumes: undefined }).toEqual({ ...service, volumes: undefined });
      expect(after.services[sidecarName(name)].network_mode).toBe(`service:${name}`);
    } else expect(now).toEqual(service);
  }
  for (const [key, value] of Object.entries(before)) {
    if (key === "services") continue;
    if (key === "volumes" || key === "secrets") expect(after[key]).toMatchObject(value ?? {});
    else expect(after[key]).toEqual(value);
  }
}

const cli = (dir: string, args: string[]) => runCommand(injectCommand, args, { cwd: dir });

const files = DIR
  ? existsSync(DIR)
    ? readdirSync(DIR)
        .filter((f) => f.endsWith(".yml"))
        .sort()
    : []
  : [];

if (!DIR) {
  it.skip("real-world compose files: skipped, CLAWGUARD_REAL_COMPOSE_DIR is not set (a directory of *.yml compose files to inject)", () => {});
} else {
  it("has compose files to check and the Compose Specification schema to check them against", () => {
    expect(files.length, `no *.yml in ${resolve(DIR)}`).toBeGreaterThan(0);
    expect(composeSchemaAvailable(), `no schema (CLAWGUARD_COMPOSE_SCHEMA: ${composeSchemaPath()})`).toBe(
      true,
    );
  });

  afterAll(() => {
    const table = [...rows.values()];
    const w = Math.max(...table.map((r) => r.file.length), 4);
    const lines = table.map(
      (r) =>
        `${r.file.padEnd(w)} | ${r.asIs} | ${r.labelled} | schema ${r.schema} | idempotent ${r.idempotent} | remove ${r.remove} | ha ${r.ha} | openclaw ${r.openclaw} | each service ${r.each}`,
    );
    console.log(`real-world compose files (${table.length}):\n${lines.join("\n")}`);
  });

  describe.each(files)("%s", (file) => {
    const text = readFileSync(join(DIR, file), "utf8");

    it("as-is: injects its OpenClaw agents, or refuses naming the file and writes nothing", async () => {
      const dir = mkdtempSync(join(tmpdir(), "clawguard-real-"));
      try {
        writeFileSync(join(dir, file), text);
        const r = await cli(dir, [file, "-o", "out.yml", "--no-openclaw"]);
        if (r.code === 0) {
          const out = readFileSync(join(dir, "out.yml"), "utf8");
          const agents = (js(out).services ? Object.keys(js(out).services) : [])
            .filter((n) => n.endsWith("-clawguard"))
            .map((n) => n.slice(0, -"-clawguard".length));
          row(file).asIs = `injected (${agents.join(", ")})`;
          checkInjected(row(file), text, agents);
          return;
        }
        const first = r.err.split("\n")[0] ?? "";
        const skipped = [...first.matchAll(/(?:skipped: |\), )(\S+) \(/g)].map((m) => m[1]);
        row(file).asIs = first.includes("no agent services")
          ? `refused: no agent services${skipped.length ? ` (skipped ${skipped.join(", ")})` : ""}`
          : `refused: ${first.slice(first.indexOf(": ", 18) + 2, 140)}`;
        expect(r.code).toBe(2);
        expect(r.out).toBe("");
        expect(r.err.startsWith(`clawguard inject: ${file}: `)).toBe(true);
        expect(first).toMatch(/no agent services|services\.[^ ]+: /);
        expect(readdirSync(dir)).toEqual([file]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("labelled: injects, validates, is idempotent, removes to the same bytes, keeps every line", () => {
      const chosen = candidates(text).slice(0, 2);
      const r = row(file);
      if (chosen.length === 0) {
        // Nothing a user could label as is: labelling the first service must be refused clearly.
        const first = Object.keys(js(text).services ?? {})[0] ?? "";
        const labelled = label(text, first, { "clawguard.role": "gateway" });
        let error: unknown;
        try {
          inject(labelled);
        } catch (err) {
          error = err;
        }
        expect(error).toBeInstanceOf(InjectError);
        expect((error as InjectError).message).toMatch(
          new RegExp(`^services\\.${first.replace(/\./g, "\\.")}\\.`),
        );
        r.labelled = `refused ${first}: ${(error as Error).message.slice(0, 90)}`;
        return;
      }
      let labelled = text;
      chosen.forEach((c, i) => {
        labelled = label(labelled, c.name, {
          "clawguard.role": i === 0 ? "gateway" : "sub-agent",
          "clawguard.workspace": c.workspace,
        });
      });
      r.labelled = `labelled ${chosen.map((c) => c.name).join(", ")}`;
      const result = inject(labelled);
      if (OUT) {
        writeFileSync(join(OUT, file.replace(/\.yml$/, ".labelled.yml")), labelled);
        writeFileSync(join(OUT, file.replace(/\.yml$/, ".injected.yml")), result.text);
      }
      expect(result.agents.map((a) => a.service).sort()).toEqual(
        expect.arrayContaining(chosen.map((c) => c.name).sort()),
      );
      checkInjected(
        r,
        labelled,
        result.agents.map((a) => a.service),
      );
    });

    it("high availability: a standby and a router for the labelled gateway, still valid and removable", () => {
      const gateway = candidates(text)[0];
      const r = row(file);
      if (!gateway) {
        r.ha = "no candidate (see labelled)";
        return;
      }
      const labelled = label(text, gateway.name, {
        "clawguard.role": "gateway",
        "clawguard.workspace": gateway.workspace,
        "clawguard.ha": "standby",
      });
      const out = inject(labelled).text;
      if (OUT) writeFileSync(join(OUT, file.replace(/\.yml$/, ".ha.yml")), out);
      const problems = validateCompose(js(out));
      const again = inject(out).text;
      const removed = removeInjection(out).text;
      r.ha = problems.length === 0 && again === out && removed === labelled ? "ok" : "FAIL";
      expect(problems).toEqual([]);
      expect(again).toBe(out);
      expect(removed).toBe(labelled);
      const before = js(labelled).services[gateway.name];
      const after = js(out).services;
      // The gateway port (18789, else the first) moves to the router; other ports stay.
      const all = containerPorts(before);
      const port = all.includes(18789) ? 18789 : all[0];
      const moves = (p: unknown) => containerPorts({ ports: [p] }).includes(port as number);
      const ports: unknown[] = before.ports ?? [];
      const [moved, kept] = [ports.filter(moves), ports.filter((p) => !moves(p))];
      expect(after[gateway.name].ports).toEqual(kept.length > 0 ? kept : undefined);
      expect(after[`${gateway.name}-router`].ports).toEqual(moved.length > 0 ? moved : undefined);
      expect(after[`${gateway.name}-standby`].profiles).toEqual(["clawguard-standby"]);
    });

    const openclaw = Object.entries((js(text).services ?? {}) as Record<string, Loose>)
      .filter(([name, s]) => /openclaw/i.test(name) && !/cli/i.test(name) && s?.network_mode === undefined)
      .map(([name]) => name);
    it.runIf(openclaw.length > 0)(
      "OpenClaw services: labelled, and inject's advice followed, they inject",
      () => {
        let input = text;
        openclaw.forEach((name, i) => {
          input = label(input, name, { "clawguard.role": i === 0 ? "gateway" : "sub-agent" });
        });
        const advice: string[] = [];
        for (let attempt = 0; ; attempt++) {
          let error: unknown;
          try {
            inject(input);
            break;
          } catch (err) {
            error = err;
          }
          const m = /add ("(?:[^"\\]|\\.)*") to the volumes of (\S+)$/.exec((error as Error).message);
          if (!m || attempt > openclaw.length) throw error;
          const entry = JSON.parse(m[1] ?? "") as string;
          advice.push(`${m[2]}: ${entry}`);
          input = addVolume(input, m[2] ?? "", entry);
        }
        const c = { schema: "-", idempotent: "-", remove: "-" };
        try {
          checkInjected(
            c,
            input,
            inject(input).agents.map((a) => a.service),
          );
        } finally {
          row(file).openclaw =
            `${openclaw.join(", ")}${advice.length ? ` after adding ${advice.join("; ")}` : ""}: schema ${c.schema}, idempotent ${c.idempotent}, remove ${c.remove}`;
        }
      },
    );

    it("every service, labelled alone, injects (all checks) or is refused naming a service key", () => {
      const services = parseDocument(text).get("services");
      const names = isMap(services)
        ? services.items.map((p) => String((p.key as { value: unknown }).value))
        : [];
      let injected = 0;
      const refused = new Map<string, number>();
      for (const name of names) {
        if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) continue;
        const service = js(text).services[name] ?? {};
        const workspace = workspaceTarget(service.volumes);
        const labelled = label(text, name, {
          "clawguard.role": "sub-agent",
          ...(workspace ? { "clawguard.workspace": workspace } : {}),
        });
        let result: ReturnType<typeof inject> | undefined;
        try {
          result = inject(labelled);
        } catch (err) {
          if (!(err instanceof InjectError)) throw err;
          expect(err.message, err.message).toMatch(/^services\.[^ ]+: /);
          const why = err.message.replace(/^services\.[^.]+\.([a-z_]+)[^:]*: ([^;(]*).*$/s, "$1: $2").trim();
          refused.set(why, (refused.get(why) ?? 0) + 1);
          continue;
        }
        checkInjected(
          { schema: "", idempotent: "", remove: "" },
          labelled,
          result.agents.map((a) => a.service),
        );
        injected++;
      }
      row(file).each =
        `${injected} injected${[...refused].map(([why, n]) => `, ${n} refused (${why})`).join("")}`;
    });

    const withMode = Object.entries((js(text).services ?? {}) as Record<string, Loose>)
      .filter(([name, s]) => s?.network_mode !== undefined && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name))
      .map(([name]) => name);
    it.runIf(withMode.length > 0)("network_mode: an agent that already has one is refused naming it", () => {
      for (const name of withMode) {
        const labelled = label(text, name, { "clawguard.role": "sub-agent" });
        expect(() => inject(labelled)).toThrow(
          new RegExp(`services\\.${name.replace(/\./g, "\\.")}\\.network_mode: already set`),
        );
      }
    });
  });
}

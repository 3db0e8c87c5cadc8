import { createHash } from "node:crypto";
import { lstatSync, type Stats } from "node:fs";
import { basename, dirname, isAbsolute, join, posix, relative, resolve, sep } from "node:path";
import { get, readToken } from "@clawguard/shared/cli/collector-client";
import { type Command, type Io, intFlag, parse } from "@clawguard/shared/cli/command";
import { ClawguardError } from "@clawguard/shared/errors";
import { draftEvent } from "@clawguard/shared/events/envelope";
import type { HistoryEntry } from "@clawguard/shared/events/memory-version";
import { BlobStore } from "../../sinks/blobs/store.ts";
import { dropInInbox } from "../../sources/inbox/drop.ts";
import { DurableFs } from "../../sources/memory-watch/decay/durable-fs.ts";
import { insidePath, readInside } from "../../workspace-path.ts";
import { agentSideConfig } from "../context.ts";
import { memoryDecayCommand } from "./memory-decay.ts";

const help = `Usage: clawguard memory history <path> [--agent NAME] [--limit N] [--json]
       clawguard memory restore <path> --at VERSION [--agent NAME] [--workspace DIR]
       clawguard memory decay [--dry-run] [--now TIME] [--json]   (clawguard memory decay --help)

Memory files as the collector recorded them (every version the sidecars saw, content stored once).
  history  versions of <path> (relative to the workspace, e.g. MEMORY.md), newest first: time,
           agent, change, size, sha256, whether the content is stored
  restore  puts a version back: --at is a sha256 (or a prefix of 8+), an event id, or a time
           (RFC 3339: the newest version at or before it). The file as it is now becomes a
           version first (and a copy stays in memory/.trash/<today>/restored/, deleted by decay
           with the rest of that day's trash); the restore is a new version. A symbolic link in
           the path is refused (the workspace is the agent's).
Options:
  --agent NAME       only that agent's versions (default: all agents that wrote the path)
  --workspace DIR    where <path> lives for restore (default: $CLAWGUARD_WORKSPACE or .)
  --url URL          collector (default: $CLAWGUARD_COLLECTOR_URL or http://127.0.0.1:18800)
  --token-file FILE  read token (default: $CLAWGUARD_READ_TOKEN(_FILE), or the one \`clawguard up\` made)
  --json             print JSON instead of a table
  -h, --help         this help`;

async function history(base: string, token: string, path: string, agent: string | undefined, limit?: number) {
  const url = new URL("/v1/memory/history", base);
  url.searchParams.set("path", path);
  if (agent) url.searchParams.set("agent", agent);
  if (limit) url.searchParams.set("limit", String(limit));
  return ((await get(url.href, token)) as { versions: HistoryEntry[] }).versions;
}

/** The version `at` names: a sha256 (prefix), an event id, or the newest at or before a time. */
function pick(versions: HistoryEntry[], at: string): HistoryEntry | undefined {
  if (/^[0-9a-f]{8,64}$/.test(at)) return versions.find((v) => v.sha256?.startsWith(at));
  if (/^[0-9A-Z]{26}$/.test(at)) return versions.find((v) => v.event_id === at);
  const time = Date.parse(at);
  if (Number.isNaN(time)) {
    throw new ClawguardError(
      "input.invalid",
      `--at: expected a sha256, an event id or an RFC 3339 time, got ${JSON.stringify(at)}`,
    );
  }
  return versions.find((v) => Date.parse(v.time) <= time && v.change !== "deleted");
}

async function restore(
  io: Io,
  base: string,
  token: string,
  path: string,
  at: string,
  agent?: string,
  workspace?: string,
) {
  const root = resolve(io.cwd, workspace ?? io.env.CLAWGUARD_WORKSPACE ?? ".");
  const target = resolve(root, path);
  if (isAbsolute(path) || relative(root, target).startsWith(`..${sep}`) || relative(root, target) === "..") {
    throw new ClawguardError("input.invalid", `${path}: expected a path inside the workspace ${root}`);
  }
  const rel = relative(root, target).split(sep).join("/");
  // The workspace is the agent's: a link on the way would make the restore read or write elsewhere.
  insidePath(root, rel);
  const versions = await history(base, token, path, agent, 1000);
  const version = pick(versions, at);
  if (!version?.sha256) {
    throw new ClawguardError(
      "not_found",
      `no version of ${path} matches --at ${at} (${versions.length} known: clawguard memory history ${path})`,
    );
  }
  if (!version.blob) {
    throw new ClawguardError(
      "not_found",
      `the content of ${path} version ${version.sha256.slice(0, 12)} never reached the collector`,
    );
  }
  const response = await fetch(new URL(`/v1/blobs/${version.sha256}`, base), {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok)
    throw new ClawguardError(
      "upstream.rejected",
      `collector: blob ${version.sha256}: HTTP ${response.status}`,
    );
  const content = Buffer.from(await response.arrayBuffer());
  if (createHash("sha256").update(content).digest("hex") !== version.sha256) {
    throw new ClawguardError(
      "upstream.rejected",
      `collector sent content that does not match ${version.sha256}`,
    );
  }
  let kept: string | undefined;
  const fs = new DurableFs();
  const before = lstatSync(insidePath(root, rel), { throwIfNoEntry: false });
  if (before) {
    // The file as it is now becomes a version first: recorded through the agent's inbox (the
    // sidecar ships it, now or when it next runs) unless the collector has it already, and
    // kept in the trash as well, in today's folder, which decay empties like the rest.
    const current = readInside(root, rel);
    const sha256 = createHash("sha256").update(current).digest("hex");
    if (!versions.some((v) => v.sha256 === sha256 && v.blob)) {
      const config = agentSideConfig(undefined, { ...io.env, CLAWGUARD_WORKSPACE: root }, io.cwd);
      new BlobStore(config.paths.blobs).put(sha256, current);
      dropInInbox(
        config.paths.inbox,
        draftEvent({
          source: { agent: config.agent, host: config.host, role: config.role },
          type: "memory.changed",
          attrs: {
            path,
            change: "modified",
            size: current.length,
            sha256,
            lines_added: null,
            lines_removed: null,
            before_restore: true,
          },
        }),
      );
    }
    kept = trashName(root, rel);
    const keptPath = insidePath(root, kept);
    fs.mkdirp(dirname(keptPath));
    fs.writeAtomic(keptPath, current, { tmp: `${keptPath}.restore-tmp`, like: before });
  }
  const targetPath = insidePath(root, rel);
  fs.mkdirp(dirname(targetPath));
  fs.writeAtomic(targetPath, content, {
    tmp: join(dirname(targetPath), `.${basename(targetPath)}.restore-tmp`),
    like: before ?? ({ mode: 0o644, uid: -1, gid: -1 } as Stats),
  });
  io.out(
    `restored ${path} to ${version.sha256.slice(0, 12)} (${version.size} bytes, ${version.time}, by ${version.agent})${kept ? `; the previous content is in ${kept}` : ""}\n`,
  );
  return readInside(root, rel).length === content.length ? 0 : 1;
}

/**
 * Where a restore keeps the content it replaces: `memory/.trash/<today, UTC>/restored/<path>`
 * (`name~2.md`... when taken), a dated trash folder that decay deletes after trashRetentionDays.
 */
export function trashName(root: string, rel: string, now = new Date()): string {
  const base = `memory/.trash/${now.toISOString().slice(0, 10)}/restored/${rel}`;
  const ext = posix.extname(base);
  const stem = base.slice(0, base.length - ext.length);
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? base : `${stem}~${n}${ext}`;
    if (!lstatSync(insidePath(root, candidate), { throwIfNoEntry: false })) return candidate;
  }
}

export const memoryCommand: Command = {
  name: "memory",
  help,
  async run(args, io) {
    if (args[0] === "decay") return memoryDecayCommand.run(args, io);
    const [sub, ...rest] = args;
    const { values, positionals } = parse(
      "memory",
      rest,
      {
        agent: { type: "string" },
        limit: { type: "string" },
        at: { type: "string" },
        workspace: { type: "string" },
        url: { type: "string" },
        "token-file": { type: "string" },
        json: { type: "boolean" },
      },
      true,
    );
    if (values.help || sub === undefined || sub === "--help" || sub === "-h") {
      io.out(`${help}\n`);
      return sub === undefined && !values.help ? 2 : 0;
    }
    if (sub !== "history" && sub !== "restore") {
      throw new ClawguardError(
        "input.invalid",
        `clawguard memory: unknown subcommand ${JSON.stringify(sub)} (history, restore, decay)`,
      );
    }
    const path = positionals[0];
    if (!path)
      throw new ClawguardError("input.invalid", `clawguard memory ${sub}: no path given (e.g. MEMORY.md)`);
    const base = values.url ?? io.env.CLAWGUARD_COLLECTOR_URL ?? "http://127.0.0.1:18800";
    const token = readToken(values["token-file"], io);
    if (sub === "history") {
      const versions = await history(base, token, path, values.agent, intFlag("limit", values.limit, 1));
      if (values.json) for (const v of versions) io.out(`${JSON.stringify(v)}\n`);
      else if (versions.length === 0) io.out(`no versions of ${path} recorded\n`);
      else {
        for (const v of versions) {
          io.out(
            `${v.time}  ${v.agent.padEnd(10)} ${v.change.padEnd(8)} ${String(v.size).padStart(9)}  ${v.sha256?.slice(0, 12) ?? "-".padEnd(12)}  ${v.blob ? "stored" : v.sha256 ? "content missing" : ""}\n`,
          );
        }
      }
      return 0;
    }
    if (!values.at) {
      throw new ClawguardError("input.invalid", "clawguard memory restore: --at VERSION is required");
    }
    return restore(io, base, token, path, values.at, values.agent, values.workspace);
  },
};

import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  readFileSync,
  realpathSync,
  rmSync,
  type Stats,
  statSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fsyncDir, writeFileAtomic } from "@clawguard/shared/fs-atomic";
import type { Agent } from "./detect.ts";
import { InjectError, servicePath } from "./errors.ts";
import { hostPath } from "./host-path.ts";
import { editOpenClaw, isRefusal, type OpenClawEdit, sidecarUrl } from "./openclaw-config.ts";

/**
 * The agents' openclaw.json files on this host: found through the state directory's bind mount,
 * read, edited with a backup beside them, and restored from it. Everything that can fail is
 * checked before anything is written (plan, then apply).
 */

export const BACKUP_SUFFIX = ".clawguard-backup";
export const OPENCLAW_FILE = "openclaw.json";

export interface OpenClawPlan {
  agent: string;
  /** The openclaw.json inject reached (symlinks followed). */
  file?: string | undefined;
  backup?: string | undefined;
  /** Why the user edits it by hand instead. */
  manual?: string | undefined;
  edit?: OpenClawEdit | undefined;
  /** A backup from an earlier inject is there (it is the original, and is kept). */
  backupExisted?: boolean | undefined;
  /** What the file held when read, and its metadata (kept by the edit). */
  raw?: Buffer | undefined;
  stat?: Stats | undefined;
}

type Found = { file: string } | { manual: string };

const errno = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/** The agent's openclaw.json on this host, or why inject cannot reach it. */
function locate(agent: Agent, composeDir: string, env: NodeJS.ProcessEnv): Found {
  const state = agent.state;
  if (!state) {
    return {
      manual: "it has no state mount (a target ending in /.openclaw, or the label clawguard.state)",
    };
  }
  const bind = typeof state.entry === "string" ? undefined : state.entry.type === "bind";
  const dir = hostPath(state.source, composeDir, env, bind);
  if ("reason" in dir) return { manual: `its state mount ${state.target}: ${dir.reason}` };
  const file = join(dir.path, OPENCLAW_FILE);
  try {
    return { file: realpathSync(file) };
  } catch (err) {
    if (errno(err) === "ENOENT") {
      return {
        manual: `there is no ${file} yet (OpenClaw writes it on its first start): run inject again then`,
      };
    }
    throw fileError(agent.name, file, `cannot resolve: ${errno(err)}`);
  }
}

/** Before anything is written (plan): nothing was; after the compose output (apply): it was. */
const fileError = (agent: string, file: string, what: string, planning = true) =>
  new InjectError(
    `${servicePath(agent)}: its OpenClaw config ${file}: ${what}; ${planning ? "nothing was written" : "the compose output is written, this file is not: run the command again"}`,
    { service: agent },
  );

/** Runs the writes of one file, naming it when one fails. */
function writing<T>(agent: string, file: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    if (err instanceof InjectError) throw err;
    throw fileError(agent, file, `cannot write: ${errno(err)}`, false);
  }
}

function readUtf8(agent: string, file: string): { raw: Buffer; text: string; stat: Stats } {
  let raw: Buffer;
  let stat: Stats;
  try {
    stat = statSync(file);
    if (!stat.isFile()) throw fileError(agent, file, "is not a regular file");
    raw = readFileSync(file);
  } catch (err) {
    if (err instanceof InjectError) throw err;
    throw fileError(agent, file, `cannot read: ${errno(err)}`);
  }
  const text = raw.toString("utf8");
  if (!Buffer.from(text, "utf8").equals(raw)) throw fileError(agent, file, "is not UTF-8 text");
  return { raw, text, stat };
}

function readOptional(agent: string, file: string): { raw: Buffer; text: string; stat: Stats } | undefined {
  try {
    statSync(file);
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    throw fileError(agent, file, `cannot read: ${errno(err)}`);
  }
  return readUtf8(agent, file);
}

function parseEdit(agent: string, file: string, text: string, original: string | undefined) {
  try {
    return editOpenClaw(text, original);
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw fileError(
        agent,
        file,
        `is not valid JSON5 (${err.message}); OpenClaw refuses it too: fix it and run inject again`,
      );
    }
    throw err;
  }
}

/** Whether this process may replace `file` and keep its owner. */
function checkWritable(agent: string, file: string, stat: Stats): void {
  try {
    accessSync(dirname(file), constants.W_OK);
  } catch {
    throw fileError(
      agent,
      file,
      `cannot write its directory ${dirname(file)} (for the backup and the edit): run inject as its owner, or pass --no-openclaw and edit it by hand`,
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && uid !== 0 && stat.uid !== uid) {
    throw fileError(
      agent,
      file,
      `it is owned by uid ${stat.uid}, and replacing it as uid ${uid} would change that: run inject as uid ${stat.uid} or as root, or pass --no-openclaw and edit it by hand`,
    );
  }
}

/**
 * Reads an agent's openclaw.json (and its backup) and works out the edit. `write` says whether it
 * will be written (then also whether it can be). Throws an InjectError naming the file when it
 * cannot be read or is not JSON5.
 */
export function planOpenClaw(
  agent: Agent,
  composeDir: string,
  env: NodeJS.ProcessEnv,
  write: boolean,
): OpenClawPlan {
  const found = locate(agent, composeDir, env);
  if ("manual" in found) return { agent: agent.name, manual: found.manual };
  const { file } = found;
  const backup = `${file}${BACKUP_SUFFIX}`;
  const current = readUtf8(agent.name, file);
  const before = readOptional(agent.name, backup);
  const edit = parseEdit(agent.name, file, current.text, before?.text);
  if (isRefusal(edit)) {
    return { agent: agent.name, file, manual: `inject leaves it as it is: ${edit.refused}` };
  }
  if (write && edit.changed) checkWritable(agent.name, file, current.stat);
  return {
    agent: agent.name,
    file,
    backup,
    edit,
    backupExisted: before !== undefined,
    raw: current.raw,
    stat: current.stat,
  };
}

/** Gives `file` the mode and owner of `like` (a rename makes a new file). */
function keepMetadata(file: string, like: Stats): string | undefined {
  const mode = like.mode & 0o7777;
  if ((statSync(file).mode & 0o7777) !== mode) chmodSync(file, mode);
  const now = statSync(file);
  if (now.uid === like.uid && now.gid === like.gid) return undefined;
  try {
    chownSync(file, like.uid, like.gid);
    return undefined;
  } catch (err) {
    return `${file}: could not give it back owner ${like.uid}:${like.gid} (${errno(err)}): chown it`;
  }
}

/** Writes the backup (unless an earlier one is there) and then the edit; returns problems to report. */
export function applyOpenClaw(plan: OpenClawPlan): string[] {
  const { file, backup, edit, raw, stat } = plan;
  if (!file || !backup || !edit?.changed || !raw || !stat) return [];
  return writing(plan.agent, file, () => {
    // OpenClaw (or a person) may have written it since it was read.
    if (!readFileSync(file).equals(raw)) throw fileError(plan.agent, file, "changed while inject ran", false);
    const problems: string[] = [];
    if (!plan.backupExisted) {
      writeFileAtomic(backup, raw, stat.mode & 0o777);
      const p = keepMetadata(backup, stat);
      if (p) problems.push(p);
    }
    writeFileAtomic(file, edit.text, stat.mode & 0o777);
    const p = keepMetadata(file, stat);
    if (p) problems.push(p);
    return problems;
  });
}

export interface RestorePlan {
  agent: string;
  file?: string | undefined;
  backup?: string | undefined;
  /** restore: put the backup back; drop: the file is the original already, only the backup goes. */
  action: "restore" | "drop" | "manual" | "none";
  message?: string | undefined;
  backupRaw?: Buffer | undefined;
  backupStat?: Stats | undefined;
  currentRaw?: Buffer | undefined;
}

/** What `inject --remove` does with an agent's openclaw.json; reads only. */
export function planRestore(agent: Agent, composeDir: string, env: NodeJS.ProcessEnv): RestorePlan {
  const found = locate(agent, composeDir, env);
  if ("manual" in found) return { agent: agent.name, action: "none", message: found.manual };
  const { file } = found;
  const backup = `${file}${BACKUP_SUFFIX}`;
  const current = readUtf8(agent.name, file);
  const before = readOptional(agent.name, backup);
  if (!before) {
    const pointed = current.text.includes(sidecarUrl(""));
    return {
      agent: agent.name,
      file,
      action: pointed ? "manual" : "none",
      message: pointed
        ? `${file} points providers at the sidecar, and there is no backup (${backup}) to restore: set their baseUrl back to the real URLs by hand`
        : undefined,
    };
  }
  let expected: string | undefined;
  try {
    const edit = editOpenClaw(before.text, before.text);
    expected = isRefusal(edit) ? undefined : edit.text;
  } catch {
    expected = undefined;
  }
  const base = { agent: agent.name, file, backup, backupRaw: before.raw, backupStat: before.stat };
  if (current.raw.equals(before.raw)) return { ...base, action: "drop", currentRaw: current.raw };
  if (expected !== undefined && current.raw.equals(Buffer.from(expected, "utf8"))) {
    return { ...base, action: "restore", currentRaw: current.raw };
  }
  return {
    ...base,
    action: "manual",
    message: `${file} changed since inject edited it (by OpenClaw or by hand), so it is left as it is; the original is ${backup}: compare them (diff ${backup} ${file}), put back what you want, then delete the backup`,
  };
}

/** Puts the original back (byte for byte, with its mode) and deletes the backup; returns problems. */
export function applyRestore(plan: RestorePlan): string[] {
  const { file, backup, backupRaw, backupStat, currentRaw } = plan;
  if (!file || !backup || !backupRaw || !backupStat || !currentRaw) return [];
  if (plan.action !== "restore" && plan.action !== "drop") return [];
  return writing(plan.agent, file, () => {
    if (!readFileSync(file).equals(currentRaw)) {
      throw fileError(plan.agent, file, "changed while inject --remove ran", false);
    }
    const problems: string[] = [];
    if (plan.action === "restore") {
      writeFileAtomic(file, backupRaw, backupStat.mode & 0o777);
      const p = keepMetadata(file, backupStat);
      if (p) problems.push(p);
    }
    rmSync(backup);
    fsyncDir(dirname(backup));
    return problems;
  });
}

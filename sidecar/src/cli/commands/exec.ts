import { existsSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { type Command, intFlag, parse } from "@clawguard/shared/cli/command";
import { createExecGuard, SpillStore } from "../../sources/exec-guard/index.ts";
import { dropInInbox, dropReserved, reserveDraft } from "../../sources/inbox/drop.ts";
import { execCacheDir } from "../cache-dir.ts";
import { execSettings } from "../exec-settings.ts";
import { launcher } from "../launcher.ts";
import { scriptCache } from "../script-cache.ts";

const help = `Usage: clawguard exec [options] -- COMMAND [ARGS...]

Runs COMMAND and passes its exit code through. Output (stdout and stderr, merged as 2>&1) at or
under the limit is printed unchanged. Above it, the full output is saved to a spill file under
<workspace>/.clawguard/spill/ and a preview is printed instead: head and tail lines, error-looking
lines from the middle, totals, the spill id, its sha256 and how to page through it.
Every run is two audit events, delivered by the sidecar (kept on disk while it is down):
exec.started, written before COMMAND starts (no room for it: refused, exit 126, unless
exec.onAuditFailure is run), and its outcome, exec.completed.
The built agent-side file keeps the exec settings it validated in $TMPDIR/clawguard-exec-<uid>
(a directory only this user can write), keyed by the config file's bytes, the CLAWGUARD_*
variables and the directory: the same inputs skip the config loader on the next run.
The shell scripts an exec policy has read are kept there too: the same script is not parsed again.
CLAWGUARD_EXEC_CACHE=off turns that off; CLAWGUARD_EXEC_CACHE=DIR puts it elsewhere.

Options:
  --session ID       session id recorded with the event (default: $CLAWGUARD_SESSION)
  --max-bytes N      pass-through limit in bytes (default: exec.maxBytes, 51200)
  --timeout-ms N     stop the command after N ms: SIGTERM to its process group, then SIGKILL
  --config FILE      sidecar config (default: $CLAWGUARD_CONFIG or ./clawguard.yaml)
  -h, --help         this help

Exit codes: the command's own; 124 timed out; 126 refused by policy, cannot run, or no room to
audit it; 127 not found.`;

export const execCommand: Command = {
  name: "exec",
  help,
  async run(args, io) {
    const split = args.indexOf("--");
    const own = split === -1 ? args : args.slice(0, split);
    const { values, positionals } = parse("exec", own, {
      session: { type: "string" },
      "max-bytes": { type: "string" },
      "timeout-ms": { type: "string" },
      config: { type: "string" },
    });
    if (values.help) {
      io.out(`${help}\n`);
      return 0;
    }
    const argv = split === -1 ? positionals : [...positionals, ...args.slice(split + 1)];
    if (argv.length === 0) {
      io.err("clawguard exec: no command given\nUsage: clawguard exec [options] -- COMMAND [ARGS...]\n");
      return 2;
    }
    // Bad flags are usage errors, said first and alone (before any warning about the workspace).
    const maxBytes = intFlag("max-bytes", values["max-bytes"], 1);
    const timeoutMs = intFlag("timeout-ms", values["timeout-ms"], 1);
    const cacheDir = execCacheDir(io.env);
    const config = await execSettings(values.config, io.env, io.cwd, cacheDir);
    if (config.agentUnknown)
      io.err(
        `clawguard exec: no config names this agent and no sidecar answered on ${io.env.CLAWGUARD_SIDECAR_LISTEN ?? "127.0.0.1:18801"}: the events go to agent "${config.agent}"'s inbox, read only by a sidecar for "${config.agent}" (set CLAWGUARD_AGENT, or CLAWGUARD_CONFIG to the sidecar's config)\n`,
      );
    const inbox = config.paths.inbox;
    // The workspace's .clawguard (the spill files' parent), wherever the inbox is (inboxDir).
    const dotDir = resolve(config.paths.spill, "..");
    if (!existsSync(dotDir))
      io.err(
        `clawguard exec: no .clawguard/ folder here or above (${io.cwd}): this folder is taken for the workspace, and only a sidecar watching it reads the events (run from the agent's workspace, or set CLAWGUARD_WORKSPACE)\n`,
      );
    let reserved: string | undefined;
    const guard = createExecGuard({
      source: { agent: config.agent, host: config.host, role: config.role },
      spill: new SpillStore(config.paths.spill),
      config: config.exec,
      readCommand: `${launcher(io.env)} read`,
      scripts: scriptCache(cacheDir),
      // exec.started, before the command runs: a command that ran always has its start in the inbox.
      // Room for the outcome is set aside first: a disk that fills during the run cannot lose it.
      recordStart: (draft) => {
        reserved = reserveDraft(inbox, String(draft.attrs.run_id));
        try {
          dropInInbox(inbox, draft);
        } catch (err) {
          rmSync(reserved, { force: true });
          reserved = undefined;
          throw err;
        }
      },
    });
    const result = await guard.run({
      argv,
      session: values.session ?? io.env.CLAWGUARD_SESSION,
      cwd: io.cwd,
      env: io.env,
      maxBytes,
      timeoutMs,
    });
    // The event first: it must exist even if printing fails (a closed stdout). A disk that filled
    // during the run loses the outcome's event (its start is in the inbox), never the output.
    try {
      if (reserved) dropReserved(reserved, result.event);
      else dropInInbox(inbox, result.event);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // A refusal for want of room already says so; its own event has no room either.
      if (result.kind === "output" || result.kind === "preview")
        result.warnings.push(
          `clawguard: warning: the outcome of this command could not be recorded (${e.code ?? "error"}: ${e.message}); output shown, exit code passed through\n`,
        );
    }
    if (result.kind === "refused" || result.kind === "failed") io.err(result.text.toString());
    else io.out(result.text);
    for (const warning of result.warnings) io.err(warning);
    return result.exitCode;
  },
};

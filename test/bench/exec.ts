import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { buildAgentBundle } from "@clawguard/sidecar/build/agent-bundle";
import { type Figure, median, progress, run } from "./report.ts";

/**
 * clawguard exec on a command printing ~200 MB vs the shell redirecting the same command to a file.
 * Both under /usr/bin/time for peak RSS; wall time from spawn to exit, median of `runs`. Each
 * command runs once before, with the agent-side file's caches cold (its first run in a container:
 * the config loaded, the shell script parsed), reported on its own; the runs measured are the
 * ones after, as an agent's commands run. The agent is named (CLAWGUARD_AGENT), as its sidecar
 * names it in a deployment: with no name and no sidecar every run would load the config and try the
 * sidecar again (a warning each time), which is not how an agent's commands run. CPU (user +
 * system, from /usr/bin/time) is reported beside the wall: the guard's own is the guard's run less
 * the shell's, the figure a loaded machine moves least.
 */

const TIME = "/usr/bin/time";

interface Sample {
  ms: number;
  rssKb: number;
  /** User + system CPU of the process and its children. */
  cpuMs: number;
}

async function timed(
  argv: string[],
  cwd: string,
  env?: NodeJS.ProcessEnv,
): Promise<Sample & { stdout: string }> {
  const { ms, stdout, stderr } = await run(TIME, ["-f", "cpu=%U+%S rss=%M", ...argv], { cwd, env });
  const m = /cpu=([\d.]+)\+([\d.]+) rss=(\d+)\s*$/.exec(stderr);
  if (!m) throw new Error(`no CPU and RSS from ${TIME}: ${stderr.slice(-500)}`);
  return { ms, rssKb: Number(m[3]), cpuMs: (Number(m[1]) + Number(m[2])) * 1000, stdout };
}

export async function benchExec(options: { runs: number; mb: number }): Promise<Figure[]> {
  if (!existsSync(TIME)) throw new Error(`${TIME} is needed for peak RSS (Debian package "time")`);
  const ws = tempDir("clawguard-bench-exec-");
  mkdirSync(join(ws.path, ".clawguard"));
  const bytes = options.mb * 1_000_000;
  const commands = [
    {
      label: `seq (${options.mb} MB of numbers)`,
      sh: `seq 1 ${Math.round((25_000_000 * options.mb) / 200)}`,
      target: 1.15,
    },
    {
      label: `yes | head -c (${options.mb} MB of log lines)`,
      sh: `yes 'INFO worker 3 processed job 42 in 17 ms' | head -c ${bytes}`,
      target: 1.3,
    },
  ];
  const figures: Figure[] = [];
  // What runs in the agent's container: the bundled agent-side CLI, as `pnpm build` makes it.
  progress("exec: building the agent bundle");
  const { outfile: agentCli } = await buildAgentBundle(join(ws.path, "dist", "clawguard"));
  // The file runs itself with `node` from PATH; this run's Node is the one to measure.
  const env = { ...process.env, CLAWGUARD_NODE: process.execPath, CLAWGUARD_AGENT: "bench" };
  try {
    const bare: Sample[] = [];
    for (let i = 0; i < 3; i++) bare.push(await timed([process.execPath, "-e", "0"], ws.path));
    const nodeStart = median(bare.map((s) => s.ms));
    // The Node binary's resident pages vary with the machine (its text in 2 MB pages or not):
    // a bare node's peak RSS, measured here, is the floor under the guard's.
    const nodeRssMb = Math.max(...bare.map((s) => s.rssKb)) / 1024;
    for (const command of commands) {
      const anchor: Sample[] = [];
      const guard: Sample[] = [];
      const anchorFile = join(ws.path, "anchor.out");
      progress(`exec: ${command.label}, first run (cold caches)`);
      const cold = await timed([agentCli, "exec", "--", "sh", "-c", command.sh], ws.path, env);
      rmSync(join(ws.path, ".clawguard", "spill"), { recursive: true, force: true });
      for (let i = 0; i < options.runs; i++) {
        progress(`exec: ${command.label}, run ${i + 1}/${options.runs}`);
        anchor.push(await timed(["sh", "-c", `${command.sh} > ${anchorFile}`], ws.path));
        const g = await timed([agentCli, "exec", "--", "sh", "-c", command.sh], ws.path, env);
        guard.push(g);
        const spill = /spill ([0-9A-Z]{26}) {2}sha256 ([0-9a-f]{64})/.exec(g.stdout);
        if (!spill) throw new Error(`no spill in the preview:\n${g.stdout.slice(0, 2000)}`);
        const spillFile = join(ws.path, ".clawguard", "spill", `${spill[1]}.out`);
        if (i === 0) {
          // The spill is the command's whole output, byte for byte.
          const expected = (await run("sha256sum", [anchorFile])).stdout.split(" ")[0];
          if (statSync(spillFile).size !== statSync(anchorFile).size || spill[2] !== expected)
            throw new Error(`spill ${spill[1]} differs from the shell's output of the same command`);
        }
        rmSync(spillFile);
        rmSync(anchorFile);
      }
      const a = median(anchor.map((s) => s.ms));
      const gms = median(guard.map((s) => s.ms));
      const rssMb = Math.max(...guard.map((s) => s.rssKb)) / 1024;
      const shellCpu = median(anchor.map((s) => s.cpuMs));
      const guardCpu = median(guard.map((s) => s.cpuMs));
      figures.push(
        {
          name: `exec wall: ${command.label}`,
          value: `${(gms / 1000).toFixed(3)} s`,
          anchor: `${(a / 1000).toFixed(3)} s shell > file`,
          ratio: (gms / a).toFixed(2),
          target: `<= ${command.target}`,
          pass: gms / a <= command.target,
        },
        {
          name: `exec peak RSS: ${command.label}`,
          value: `${rssMb.toFixed(1)} MB`,
          anchor: `${(Math.max(...anchor.map((s) => s.rssKb)) / 1024).toFixed(1)} MB shell`,
          ratio: "-",
          target: "<= 80 MB",
          pass: rssMb <= 80,
        },
        {
          // The guard's run less the shell's: what the guard itself costs (start, read, scan).
          name: `exec own CPU (user + system, less the shell's): ${command.label}`,
          value: `${((guardCpu - shellCpu) / 1000).toFixed(3)} s`,
          anchor: `${(shellCpu / 1000).toFixed(3)} s CPU shell > file`,
          ratio: (guardCpu / shellCpu).toFixed(2),
          target: "-",
        },
        {
          // No guard in Node can start the command before Node itself has started: the shell's
          // run plus `node -e 0` is the least any such guard takes, its ratio the best it can get.
          name: `exec floor for a guard in Node (shell + node -e 0): ${command.label}`,
          value: `${((a + nodeStart) / 1000).toFixed(3)} s`,
          anchor: `${(a / 1000).toFixed(3)} s shell > file`,
          ratio: ((a + nodeStart) / a).toFixed(2),
          target: "-",
        },
        {
          name: `exec first run, cold caches: ${command.label}`,
          value: `${(cold.ms / 1000).toFixed(3)} s`,
          anchor: `${(cold.rssKb / 1024).toFixed(1)} MB peak RSS`,
          ratio: "-",
          target: "-",
        },
      );
    }
    figures.push({
      name: "node startup, node -e 0 (context)",
      value: `${nodeStart.toFixed(0)} ms`,
      anchor: "-",
      ratio: "-",
      target: "-",
    });
    figures.push({
      name: "node peak RSS, node -e 0 (context: the floor under exec's)",
      value: `${nodeRssMb.toFixed(1)} MB`,
      anchor: "-",
      ratio: "-",
      target: "-",
    });
  } finally {
    ws.cleanup();
  }
  return figures;
}

import { execFile, execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import { tempDir } from "@clawguard/shared/testing";
import { buildAgentBundle } from "@clawguard/sidecar/build/agent-bundle";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The agent-side `clawguard` as `pnpm build` makes it: one file, run through PATH from a folder
 * that knows nothing of clawguard, the way an agent container runs it.
 */

const run = promisify(execFile);
const dir = tempDir("clawguard-agent-file-");
const bin = join(dir.path, "opt", "bin");
const ws = join(dir.path, "workspace");
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  mkdirSync(join(ws, ".clawguard"), { recursive: true });
  mkdirSync(bin, { recursive: true });
  // A package.json without "type" above the file: Node would warn into the output if let.
  writeFileSync(join(dir.path, "opt", "package.json"), '{"name":"unrelated"}');
  await buildAgentBundle(join(bin, "clawguard"));
  env = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: dir.path,
    CLAWGUARD_NODE: process.execPath,
    TMPDIR: join(dir.path, "tmp"),
    // Named, as inject's and up's configs name it: no sidecar answers here to say who it is.
    CLAWGUARD_AGENT: "main",
  };
  mkdirSync(env.TMPDIR as string);
}, 60_000);
afterAll(() => dir.cleanup());

const clawguard = (args: string[]) => run("clawguard", args, { cwd: ws, env, maxBuffer: 1 << 22 });

describe("the built agent-side clawguard", () => {
  it("is one executable file", () => {
    expect(readdirSync(bin)).toEqual(["clawguard"]);
    expect(readFileSync(join(bin, "clawguard"), "utf8").startsWith("#!/bin/sh\n")).toBe(true);
  });

  it("passes small output through unchanged, with nothing else on stdout or stderr", async () => {
    const { stdout, stderr } = await clawguard(["exec", "--", "printf", "a\\nb\\n"]);
    expect(stdout).toBe("a\nb\n");
    expect(stderr).toBe("");
  });

  it("keeps its own Node compile cache to itself", async () => {
    const { stdout } = await clawguard([
      "exec",
      "--",
      "sh",
      "-c",
      "printenv NODE_COMPILE_CACHE || echo unset",
    ]);
    expect(stdout).toBe("unset\n");
    // All of it in the one folder only this user can write: a compile cache in a folder of $TMPDIR
    // other users can write would run what they put there.
    const exec = `clawguard-exec-${process.getuid?.()}`;
    expect(readdirSync(join(dir.path, "tmp"))).toEqual([exec]);
    expect(statSync(join(dir.path, "tmp", exec)).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir.path, "tmp", exec))).toContain("node-compile-cache");
  });

  it("keeps nothing where TMPDIR would make it go wrong: relative, or under /proc", async () => {
    const relative = await run("clawguard", ["exec", "--", "echo", "relative"], {
      cwd: ws,
      env: { ...env, TMPDIR: "reltmp" },
    });
    expect(relative.stdout).toBe("relative\n");
    expect(readdirSync(ws)).not.toContain("reltmp");
    // Node's recursive mkdir never returns under /proc: no cache, and no hang.
    const proc = await run("clawguard", ["exec", "--", "echo", "proc"], {
      cwd: ws,
      env: { ...env, TMPDIR: "/proc/self" },
      timeout: 20_000,
    });
    expect(proc.stdout).toBe("proc\n");
    expect(proc.stderr).toBe("");
  });

  it("keeps the exec settings it validated, and a changed config takes effect on the next run", async () => {
    const config = join(ws, "clawguard.yaml");
    try {
      writeFileSync(config, "exec:\n  policy: { deny: ['curl *'] }\n");
      await expect(clawguard(["exec", "--", "curl", "http://127.0.0.1:9"])).rejects.toMatchObject({
        code: 126,
      });
      // The same inputs again: from the kept settings, the same refusal.
      await expect(clawguard(["exec", "--", "curl", "http://127.0.0.1:9"])).rejects.toMatchObject({
        code: 126,
      });
      writeFileSync(config, "exec:\n  policy: { deny: ['wget *'] }\n");
      const { stdout } = await clawguard(["exec", "--", "sh", "-c", "echo curl allowed now"]);
      expect(stdout).toBe("curl allowed now\n");
      await expect(clawguard(["exec", "--", "wget", "http://127.0.0.1:9"])).rejects.toMatchObject({
        code: 126,
      });
      // With nothing kept (the loader then comes from the file itself, not from a written chunk).
      const off = { cwd: ws, env: { ...env, CLAWGUARD_EXEC_CACHE: "off" } };
      await expect(run("clawguard", ["exec", "--", "wget", "http://127.0.0.1:9"], off)).rejects.toMatchObject(
        {
          code: 126,
        },
      );
      // A config made invalid is refused, not served from what was kept for the valid one.
      writeFileSync(config, "exec:\n  maxBytes: -1\n");
      await expect(clawguard(["exec", "--", "true"])).rejects.toMatchObject({
        stderr: expect.stringContaining("exec.maxBytes"),
      });
    } finally {
      rmSync(config, { force: true });
    }
  });

  it("spills a big output, and reads and greps it back (the grep worker is the same file)", async () => {
    const { stdout } = await clawguard(["exec", "--", "seq", "1", "200000"]);
    const id = /clawguard read ([0-9A-Z]{26})/.exec(stdout)?.[1];
    expect(id, stdout.slice(-1000)).toBeDefined();
    const spill = readFileSync(join(ws, ".clawguard", "spill", `${id}.out`), "utf8");
    expect(spill.split("\n").length).toBe(200_001);
    const lines = await clawguard(["read", id as string, "--lines", "199999:200000"]);
    expect(lines.stdout).toBe("199999\n200000\n");
    const grep = await clawguard(["read", id as string, "--grep", "^1999(8|9)9$"]);
    expect(grep.stdout).toBe("199989: 199989\n199999: 199999\n");
  });

  it("keeps a code cache of what exec ran, uses it as it is, and replaces a damaged one", async () => {
    const cache = join(dir.path, "code-cache");
    const own = (args: string[]) =>
      run("clawguard", args, { cwd: ws, env: { ...env, CLAWGUARD_EXEC_CACHE: cache } });
    const codeFile = () => {
      const names = readdirSync(cache).filter((n) => n.startsWith("code-exec-"));
      expect(names).toHaveLength(1);
      return join(cache, names[0] as string);
    };
    // An earlier build's cache: removed once this build has its own.
    mkdirSync(cache, { mode: 0o700 });
    const older = join(cache, "code-exec-0123456789abcdef-v24.0.0-x64-x.v8");
    writeFileSync(older, "old");
    expect((await own(["exec", "--", "echo", "first"])).stdout).toBe("first\n");
    const file = codeFile();
    expect(readdirSync(cache)).not.toContain(basename(older));
    const made = statSync(file);
    expect(made.mode & 0o777).toBe(0o600);
    // Made after the run: it holds the functions exec ran, not only the file's top level.
    expect(made.size).toBeGreaterThan(200_000);
    expect((await own(["exec", "--", "echo", "second"])).stdout).toBe("second\n");
    // Accepted: not made again.
    expect(statSync(file).mtimeMs).toBe(made.mtimeMs);
    writeFileSync(file, Buffer.alloc(made.size, 0x5a));
    const damaged = await own(["exec", "--", "echo", "third"]);
    expect(damaged.stdout).toBe("third\n");
    expect(damaged.stderr).toBe("");
    expect(readFileSync(file).equals(Buffer.alloc(made.size, 0x5a))).toBe(false);
    // A FIFO in its place, or in the kept settings', is not read (the start would hang): exec runs,
    // and a cache replaces it.
    const kept = readdirSync(cache).filter((n) => /^exec-[0-9a-f]+\.json$/.test(n));
    expect(kept.length).toBeGreaterThan(0);
    for (const name of [basename(file), ...kept]) {
      rmSync(join(cache, name));
      execFileSync("mkfifo", [join(cache, name)]);
    }
    const fifo = await own(["exec", "--", "echo", "fifo"]);
    expect(fifo.stdout).toBe("fifo\n");
    expect(statSync(file).isFile()).toBe(true);
    // In a directory others can write, nothing is read or kept.
    const open = join(dir.path, "open-cache");
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    writeFileSync(join(open, basename(file)), Buffer.alloc(made.size, 0x5a));
    const shared = await run("clawguard", ["exec", "--", "echo", "fourth"], {
      cwd: ws,
      env: { ...env, CLAWGUARD_EXEC_CACHE: open },
    });
    expect(shared.stdout).toBe("fourth\n");
    expect(readdirSync(open).filter((n) => n.startsWith("code-"))).toEqual([basename(file)]);
    expect(readFileSync(join(open, basename(file))).equals(Buffer.alloc(made.size, 0x5a))).toBe(true);
  });

  it("compiles a bundle another build put in its place (a publish mid-start) without this build's cache", async () => {
    const swapped = join(dir.path, "swapped");
    mkdirSync(swapped);
    const file = join(swapped, "clawguard");
    const text = readFileSync(join(bin, "clawguard"), "utf8");
    const mark = /\n\/\/@clawguard-body ([0-9a-f]{16})\n/.exec(text);
    expect(mark).not.toBeNull();
    writeFileSync(file, text.replace(mark?.[0] as string, "\n//@clawguard-body 0123456789abcdef\n"), {
      mode: 0o755,
    });
    const cache = join(dir.path, "swapped-cache");
    const { stdout, stderr } = await run(file, ["exec", "--", "echo", "swapped"], {
      cwd: ws,
      env: { ...env, CLAWGUARD_EXEC_CACHE: cache },
    });
    expect(stdout).toBe("swapped\n");
    expect(stderr).toBe("");
    expect(readdirSync(cache).filter((n) => n.startsWith("code-"))).toEqual([]);
  });

  it('runs as well under a package.json with "type": "module" (Node then takes the file for an ES module)', async () => {
    const esm = join(dir.path, "esm");
    mkdirSync(join(esm, "bin"), { recursive: true });
    writeFileSync(join(esm, "package.json"), '{"type":"module"}');
    const file = join(esm, "bin", "clawguard");
    writeFileSync(file, readFileSync(join(bin, "clawguard")), { mode: 0o755 });
    const { stdout, stderr } = await run(file, ["exec", "--", "echo", "as a module"], { cwd: ws, env });
    expect(stdout).toBe("as a module\n");
    expect(stderr).toBe("");
  });

  it("passes SIGTERM and Ctrl-C on to the command's group, and records the outcome", async () => {
    for (const [signal, code] of [
      ["SIGTERM", 143],
      ["SIGINT", 130],
    ] as const) {
      const pidFile = join(dir.path, `pid-${signal}`);
      const child = spawn("clawguard", ["exec", "--", "sh", "-c", `echo $$ > ${pidFile}; exec sleep 30`], {
        cwd: ws,
        env,
      });
      const exited = new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
      while (!existsSync(pidFile) || readFileSync(pidFile, "utf8").trim() === "")
        await new Promise((r) => setTimeout(r, 20));
      const sleeper = Number(readFileSync(pidFile, "utf8"));
      child.kill(signal);
      expect(await exited).toBe(code);
      // The command is gone too, not left running on its own (gone, or a zombie not yet reaped).
      const state = () => /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${sleeper}/stat`, "utf8"))?.[1];
      const deadline = Date.now() + 5000;
      while (existsSync(`/proc/${sleeper}`) && state() !== "Z" && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(existsSync(`/proc/${sleeper}`) ? state() : "gone").toMatch(/^(gone|Z)$/);
    }
  });

  it("passes the exit code through and explains a missing command", async () => {
    await expect(clawguard(["exec", "--", "sh", "-c", "exit 7"])).rejects.toMatchObject({ code: 7 });
    await expect(clawguard(["exec", "--", "no-such-command-here"])).rejects.toMatchObject({
      code: 127,
      stderr: expect.stringContaining("command not found: no-such-command-here"),
    });
  });

  it("refuses rm however it is wrapped, and runs only what an allow-list names", async () => {
    const config = join(dir.path, "policy.yaml");
    const victim = join(ws, "victim");
    writeFileSync(victim, "keep me");
    // A link to rm under another name, on PATH.
    symlinkSync(
      realpathSync(execFileSync("sh", ["-c", "command -v rm"], { encoding: "utf8" }).trim()),
      join(dir.path, "zap"),
    );
    const withPath = { cwd: ws, env: { ...env, PATH: `${env.PATH}:${dir.path}` } };
    const guarded = (args: string[]) =>
      run("clawguard", ["exec", "--config", config, "--", ...args], withPath);
    try {
      writeFileSync(config, 'exec:\n  policy:\n    deny: ["rm *"]\n');
      for (const argv of [
        ["sh", "-c", "ls && rm victim"],
        ["env", "nice", "bash", "-lc", "echo $(rm victim)"],
        ["zap", "victim"],
        ["find", ".", "-name", "victim", "-delete"],
        ["sh", "-c", "cat <<EOF\n`xargs rm`\nEOF\n"],
      ]) {
        await expect(guarded(argv), argv.join(" ")).rejects.toMatchObject({
          code: 126,
          stderr: expect.stringContaining('matches deny rule "rm *"'),
        });
      }
      expect(readFileSync(victim, "utf8")).toBe("keep me");
      expect((await guarded(["sh", "-c", "echo rm victim | cat"])).stdout).toBe("rm victim\n");
      // Scripts read are kept (no parser on the next run), and a kept script is refused the same.
      const kept = join(dir.path, "tmp", `clawguard-exec-${process.getuid?.()}`);
      expect(readdirSync(kept).filter((f) => f.startsWith("script-")).length).toBeGreaterThanOrEqual(3);
      await expect(guarded(["sh", "-c", "ls && rm victim"])).rejects.toMatchObject({ code: 126 });

      writeFileSync(config, 'exec:\n  policy:\n    default: deny\n    allow: ["cat *", "ls *"]\n');
      expect((await guarded(["sh", "-c", "ls -a | cat -n >/dev/null && cat victim"])).stdout).toBe("keep me");
      await expect(guarded(["sh", "-c", "cat victim; $CMD x"])).rejects.toMatchObject({
        code: 126,
        stderr: expect.stringContaining("a program name known only at run time ($CMD)"),
      });
      await expect(guarded(["python3", "-c", "print(1)"])).rejects.toMatchObject({
        code: 126,
        stderr: expect.stringContaining("matches no allow rule (exec.policy.default is deny)"),
      });
    } finally {
      rmSync(config, { force: true });
    }
  });

  it("reads a YAML config file: a deny rule refuses, a bad value is named", async () => {
    const config = join(dir.path, "clawguard.yaml");
    writeFileSync(config, 'exec:\n  policy:\n    deny: ["rm -rf *"]\n');
    await expect(clawguard(["exec", "--config", config, "--", "rm", "-rf", "nothing"])).rejects.toMatchObject(
      {
        code: 126,
        stderr: expect.stringContaining('matches deny rule "rm -rf *"'),
      },
    );
    writeFileSync(config, "exec:\n  maxBytes: -4\n");
    await expect(clawguard(["exec", "--config", config, "--", "true"])).rejects.toMatchObject({
      stderr: expect.stringContaining("exec.maxBytes"),
    });
  });
});

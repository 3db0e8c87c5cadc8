import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isClawguardError } from "@clawguard/shared/errors";
import { validateDraft } from "@clawguard/shared/events/envelope";
import { processAlive } from "@clawguard/shared/process";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execGuardConfig } from "./config.ts";
import { createExecGuard, type ExecRequest } from "./index.ts";
import { SpillStore } from "./spill.ts";

const source = { agent: "main", role: "agent", host: "test-host" };
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

export const SECRETS = {
  aws: "AKIAIOSFODNN7EXAMPLE",
  github: "ghp_0123456789abcdefghijABCDEFGHIJ012345",
  openai: "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
  pem: "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7xSECRETBODY\nq1w2e3r4t5y6u7i8o9p0\n-----END RSA PRIVATE KEY-----",
  jwt: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
};
/** Distinctive parts of each secret that must never appear in redacted text. */
const RAW = [SECRETS.aws, SECRETS.github, SECRETS.openai, "MIIEowIBAAKCAQEA7xSECRETBODY", SECRETS.jwt];

let tmp: ReturnType<typeof tempDir>;
let spillDir: string;
const pids: number[] = [];

beforeEach(() => {
  tmp = tempDir("clawguard-exec-");
  spillDir = join(tmp.path, "spill");
});

afterEach(() => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  tmp.cleanup();
});

function guardWith(config: Record<string, unknown> = {}) {
  const spill = new SpillStore(spillDir);
  const guard = createExecGuard({
    source,
    spill,
    config: execGuardConfig.parse({ maxBytes: 1000, previewBytes: 600, killGraceMs: 300, ...config }),
    readCommand: "clawguard read",
  });
  const run = (argv: string[], extra: Partial<ExecRequest> = {}) =>
    guard.run({ argv, cwd: tmp.path, env, timeoutMs: 10_000, ...extra });
  return { guard, spill, run };
}

/** A file whose content a test knows exactly; `cat` of it is the command's output. */
function fixture(name: string, content: string | Buffer): string {
  const path = join(tmp.path, name);
  writeFileSync(path, content);
  return path;
}

async function waitForPid(file: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const text = existsSync(file) ? readFileSync(file, "utf8").trim() : "";
    if (/^\d+$/.test(text)) {
      pids.push(Number(text));
      return Number(text);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no pid in ${file}`);
}

const spillFiles = () => (existsSync(spillDir) ? readdirSync(spillDir) : []);

describe("exec guard: output under the limit", () => {
  it("passes output through unchanged with the exit code, and keeps no spill", async () => {
    const { run } = guardWith();
    const result = await run(["sh", "-c", 'printf "hello\\nw%sd" orl; echo $((6 * 7))x >&2; exit 3']);
    expect(result.kind).toBe("output");
    expect(result.exitCode).toBe(3);
    expect(result.text.toString()).toBe("hello\nworld42x\n");
    expect(result.outcome).toMatchObject({ bytes: 15, lines: 2, spilled: false, binary: false });
    expect(result.outcome?.sha256).toBe(sha256("hello\nworld42x\n"));
    expect(spillFiles().filter((f) => f.endsWith(".out"))).toEqual([]);
    expect(result.event).toMatchObject({
      type: "exec.completed",
      severity: "warn",
      source,
      attrs: {
        argv0: "sh",
        exit_code: 3,
        bytes: 15,
        lines: 2,
        spilled: false,
        spill_id: null,
        timed_out: false,
      },
    });
    expect(validateDraft(result.event).ok).toBe(true);
    expect(JSON.stringify(result.event)).not.toMatch(/world|42x/);
  });

  it("passes exactly maxBytes through and spills one byte more", async () => {
    const { run } = guardWith({ maxBytes: 1000 });
    const exact = await run(["cat", fixture("exact", "a".repeat(999) + "\n")]);
    expect(exact.kind).toBe("output");
    expect(exact.text.toString()).toBe("a".repeat(999) + "\n");
    const over = await run(["cat", fixture("over", "a".repeat(1000) + "\n")]);
    expect(over.kind).toBe("preview");
    expect(over.outcome?.spilled).toBe(true);
  });

  it("honours a per-request maxBytes", async () => {
    const { run } = guardWith({ maxBytes: 1000 });
    const file = fixture("small", "0123456789\n".repeat(10));
    expect((await run(["cat", file])).kind).toBe("output");
    expect((await run(["cat", file], { maxBytes: 50 })).kind).toBe("preview");
  });

  it("passes small binary output through byte for byte", async () => {
    const { run } = guardWith();
    const bytes = Buffer.from([0, 1, 2, 255, 10, 0, 200]);
    const result = await run(["cat", fixture("bin", bytes)]);
    expect(result.kind).toBe("output");
    expect(result.text.equals(bytes)).toBe(true);
    expect(result.outcome?.binary).toBe(true);
  });

  it("closes stdin: a command reading it ends at once", async () => {
    const { run } = guardWith();
    const started = Date.now();
    const result = await run(["cat"], { timeoutMs: 5000 });
    expect(result.exitCode).toBe(0);
    expect(result.outcome?.timedOut).toBe(false);
    expect(result.text.length).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("runs in the requested directory with the given environment only", async () => {
    const { run } = guardWith();
    mkdirSync(join(tmp.path, "sub"));
    const result = await run(["sh", "-c", 'pwd; echo "[$CLAWGUARD_TEST_VAR]"'], {
      cwd: join(tmp.path, "sub"),
      env: { ...env, CLAWGUARD_TEST_VAR: "v1" },
    });
    expect(result.text.toString()).toBe(`${join(tmp.path, "sub")}\n[v1]\n`);
  });
});

describe("exec guard: output over the limit", () => {
  function bigOutput(): { text: string; errorLine: number; lines: number } {
    const lines: string[] = [];
    for (let i = 1; i <= 3000; i++) lines.push(`filler line ${i}`);
    lines[1499] = "fatal: the middle went wrong";
    return { text: `${lines.join("\n")}\n`, errorLine: 1500, lines: 3000 };
  }

  it("spills to a 0600 file and previews head, tail, middle errors, totals, id, sha256 and how to read it", async () => {
    const { run, spill } = guardWith();
    const big = bigOutput();
    const result = await run(["cat", fixture("big", big.text)]);
    const outcome = result.outcome;
    if (!outcome) throw new Error("no outcome");
    expect(result.kind).toBe("preview");
    expect(result.exitCode).toBe(0);
    const file = spill.path(outcome.id);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const raw = readFileSync(file);
    expect(raw.toString()).toBe(big.text);
    expect(outcome.sha256).toBe(sha256(raw));
    const bytes = Buffer.byteLength(big.text);
    const preview = result.text.toString();
    expect(preview.length).toBeLessThan(1500);
    expect(preview).toContain(
      `output was ${bytes.toLocaleString("en-US")} bytes in 3,000 lines, over the 1,000-byte limit`,
    );
    expect(preview).toContain(`spill ${outcome.id}  sha256 ${sha256(raw)}`);
    expect(preview).toMatch(/--- first \d+ lines ---\nfiller line 1\nfiller line 2\n/);
    expect(preview).toMatch(/filler line 2999\nfiller line 3000\n/);
    expect(preview).toContain(`${big.errorLine}: fatal: the middle went wrong`);
    expect(preview).not.toContain("filler line 1499\n");
    expect(preview).toMatch(new RegExp(`clawguard read ${outcome.id} --lines \\d+:\\d+`));
    expect(preview).toContain(`clawguard read ${outcome.id} --grep PATTERN`);
    expect(preview).toContain("[clawguard] exit code 0");
    // The head and tail shown are the real ones, with the right line numbers.
    const head = /--- first (\d+) lines ---\n([\s\S]*?)\n---/.exec(preview);
    expect(head?.[2]?.split("\n")).toEqual(big.text.split("\n").slice(0, Number(head?.[1])));
    const tail = /--- last (\d+) lines \(([\d,]+)-3,000\) ---\n([\s\S]*?)\n\[clawguard\]/.exec(preview);
    const tailCount = Number(tail?.[1]);
    expect(tailCount).toBeGreaterThan(5);
    expect(Number(tail?.[2]?.replace(",", ""))).toBe(3000 - tailCount + 1);
    expect(tail?.[3]?.split("\n")).toEqual(big.text.trimEnd().split("\n").slice(-tailCount));
    // Metadata beside it.
    expect(await spill.meta(outcome.id)).toMatchObject({
      id: outcome.id,
      bytes,
      lines: 3000,
      sha256: sha256(raw),
    });
    expect(result.event.attrs).toMatchObject({
      spilled: true,
      spill_id: outcome.id,
      bytes,
      lines: 3000,
      sha256: sha256(raw),
      error_lines: 1,
      binary: false,
    });
    // Events carry counts and hashes, never output.
    expect(JSON.stringify(result.event)).not.toMatch(/filler|middle went wrong/);
  });

  it("previews binary output without printing it, and hashes it", async () => {
    const { run, spill } = guardWith();
    const result = await run(["head", "-c", "100000", "/dev/urandom"]);
    const outcome = result.outcome;
    if (!outcome) throw new Error("no outcome");
    expect(result.kind).toBe("preview");
    expect(outcome.binary).toBe(true);
    expect(outcome.bytes).toBe(100_000);
    const raw = readFileSync(spill.path(outcome.id));
    expect(raw.length).toBe(100_000);
    expect(outcome.sha256).toBe(sha256(raw));
    const preview = result.text.toString();
    expect(preview).toContain("the output is binary");
    expect(preview).toContain(`clawguard read ${outcome.id} --offset 0 --limit 512`);
    expect(preview).toContain(`sha256 ${sha256(raw)}`);
    expect(preview.length).toBeLessThan(1000);
    expect(result.event.attrs).toMatchObject({ binary: true, bytes: 100_000, sha256: sha256(raw) });
  });

  it("redacts secrets in the preview and the audit command, but keeps them raw in the spill", async () => {
    const { run, spill } = guardWith({ maxBytes: 4000, previewBytes: 2000 });
    const lines = [
      `aws key ${SECRETS.aws}`,
      SECRETS.pem,
      `token ${SECRETS.github}`,
      ...Array.from({ length: 2000 }, (_, i) => `filler ${i}`),
    ];
    lines[1000] = `error: request failed with key ${SECRETS.openai}`;
    lines[1500] = `fatal: bad session ${SECRETS.jwt}`;
    lines.push(`aws again ${SECRETS.aws}`, `token again ${SECRETS.github}`, `jwt ${SECRETS.jwt}`, "end");
    const text = `${lines.join("\n")}\n`;
    const result = await run(["sh", "-c", `cat "$1" # ${SECRETS.github}`, "sh", fixture("secrets", text)]);
    const outcome = result.outcome;
    if (!outcome) throw new Error("no outcome");
    expect(result.kind).toBe("preview");
    const preview = result.text.toString();
    for (const secret of RAW) expect(preview).not.toContain(secret);
    for (const kind of ["aws-access-key", "private-key", "github-token", "openai-key", "jwt"]) {
      expect(preview).toContain(`[REDACTED:${kind}]`);
    }
    expect(preview).toContain("error: request failed with key [REDACTED:openai-key]");
    expect(preview).toContain("fatal: bad session [REDACTED:jwt]");
    expect(preview).toMatch(/\nend\n/);
    expect(readFileSync(spill.path(outcome.id), "utf8")).toBe(text);
    const event = JSON.stringify(result.event);
    for (const secret of RAW) expect(event).not.toContain(secret);
    expect(event).toContain("[REDACTED:github-token]");
    expect(event).not.toMatch(/filler|request failed/);
  });
});

describe("exec guard: secrets in the command line", () => {
  it("redacts them in the audit event, a refusal and the spill's metadata", async () => {
    const { run, spill } = guardWith({ maxBytes: 100, policy: { deny: ["nc *"] } });
    const secrets = ["S3cr3tPassw0rd", "hunter2Hunter2x", "pgS3cret99", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"];
    const argv = [
      "sh",
      "-c",
      "seq 1 100",
      "curl -u deploy:S3cr3tPassw0rd https://registry.example.com/v2/",
      "--password",
      "hunter2Hunter2x",
      "postgres://app:pgS3cret99@db:5432/app",
      "STRIPE_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    ];
    const result = await run(argv);
    expect(result.kind).toBe("preview");
    const meta = JSON.stringify(await spill.meta(result.outcome?.id ?? ""));
    const refused = await run([
      "nc",
      "-u",
      "deploy:S3cr3tPassw0rd",
      "--token",
      "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    ]);
    expect(refused.kind).toBe("refused");
    for (const text of [
      JSON.stringify(result.event),
      meta,
      JSON.stringify(refused.event),
      refused.text.toString(),
    ]) {
      for (const secret of [...secrets, SECRETS.github]) expect(text).not.toContain(secret);
      expect(text).toContain("[REDACTED:");
    }
    expect(JSON.stringify(result.event)).toContain("curl -u deploy:[REDACTED:cli-credential]");
  });
});

describe("exec guard: passwords given to a program's options", () => {
  it("redacts them on the argv, quoted or not, strong or not (issue 13: sshpass -p 'Xy7#kL9!mQ2$vBq8')", async () => {
    const cases: [string[], string][] = [
      [["sshpass", "-p", "Xy7#kL9!mQ2$vBq8", "ssh", "host"], "Xy7#kL9!mQ2$vBq8"],
      [["docker", "login", "-u", "ci", "-p", "Pa55 word!", "ghcr.io"], "Pa55 word!"],
      [["mysql", "-u", "root", "-pSw0rd'fish#1", "shop"], "Sw0rd'fish#1"],
      [["redis-cli", "-a", "r3dis!pw", "ping"], "r3dis!pw"],
      [["ldapsearch", "-x", "-w", "ld@p pw", "-D", "cn=admin"], "ld@p pw"],
      [["smbclient", "-U", "alice%sm8pw!", "//h/s"], "sm8pw!"],
      [["openssl", "enc", "-aes-256-cbc", "-k", "0penssl!pw"], "0penssl!pw"],
      [["zip", "-P", "z1ppw#", "x.zip", "y"], "z1ppw#"],
      [["7z", "a", "-p7zs3cret", "x.7z"], "7zs3cret"],
    ];
    const { run } = guardWith({
      policy: {
        deny: [
          "sshpass *",
          "docker *",
          "mysql *",
          "redis-cli *",
          "ldapsearch *",
          "smbclient *",
          "openssl *",
          "zip *",
          "7z *",
        ],
      },
    });
    for (const [argv, secret] of cases) {
      const result = await run(argv);
      expect(result.kind).toBe("refused");
      const event = JSON.stringify(result.event);
      expect(event, argv.join(" ")).not.toContain(JSON.stringify(secret).slice(1, -1));
      expect(event).toContain("[REDACTED:cli-credential]");
      expect(result.text.toString()).not.toContain(secret);
    }
  });
});

describe("exec guard: preview edges", () => {
  const filler = (n: number) => Array.from({ length: n }, (_, i) => `filler ${i}`).join("\n");

  it("never shows part of a secret where a long first or last line is cut", async () => {
    const { run } = guardWith({ maxBytes: 1000, previewBytes: 600 }); // head and tail budgets: 240 bytes
    const first = `${"x".repeat(230)} ${SECRETS.aws} ${"x".repeat(300)}`; // the key spans byte 240
    const last = `${"y".repeat(300)} ${SECRETS.aws} ${"y".repeat(228)}`; // and the tail's first byte
    const text = `${first}\n${filler(500)}\n${last}\n`;
    const result = await run(["cat", fixture("long", text)]);
    expect(result.kind).toBe("preview");
    const preview = result.text.toString();
    for (let n = 4; n <= SECRETS.aws.length; n++) {
      expect(preview).not.toContain(SECRETS.aws.slice(0, n));
      expect(preview).not.toContain(SECRETS.aws.slice(-n));
    }
    expect(preview).toContain(`--- first 1 lines ---\n${"x".repeat(230)}\n`);
    expect(preview).toContain(`--- last 1 lines (502-502) ---\n${"y".repeat(228)}\n`);
  });

  it("redacts a long line before clipping it, so a clip never leaves part of a secret", async () => {
    const { run } = guardWith({ maxBytes: 4000, previewBytes: 2000 });
    const head = `${"x".repeat(390)} ${SECRETS.github} end`; // the clip at 400 chars falls in the token
    const middle = `error: ${"z".repeat(285)} ${SECRETS.openai} end`; // and the kept error text at 300
    const lines = [head, ...filler(1000).split("\n")];
    lines[500] = middle;
    const result = await run(["cat", fixture("clip", `${lines.join("\n")}\n`)]);
    const preview = result.text.toString();
    expect(preview).toContain("501: error: ");
    for (const secret of [SECRETS.github, SECRETS.openai]) {
      expect(preview).not.toContain(secret.slice(0, 6));
    }
    expect(preview).toContain(`${"x".repeat(390)} [REDACTED… [+18 chars]`);
    expect(preview).toContain(`501: error: ${"z".repeat(285)} [REDACT… [+`);
  });

  it("redacts a tail that starts inside a private key whose BEGIN line is far above it", async () => {
    const { run } = guardWith({ maxBytes: 1000, previewBytes: 600 }); // tail budget: 240 bytes
    const body = Array.from(
      { length: 12 },
      (_, i) => `${String.fromCharCode(65 + i).repeat(8)}${"q1w2e3r4".repeat(7)}`,
    );
    const key = `-----BEGIN EC PRIVATE KEY-----\n${body.join("\n")}\n-----END EC PRIVATE KEY-----`;
    const result = await run(["cat", fixture("key-tail", `${filler(40)}\n${key}\nafter the key\n`)]);
    expect(result.kind).toBe("preview");
    const preview = result.text.toString();
    expect(preview).toContain("--- last ");
    for (const line of body) expect(preview).not.toContain(line.slice(0, 8));
    expect(preview).toContain("[REDACTED:private-key]");
    expect(preview).toMatch(/\nafter the key\n/);
  });

  it("shows each line once when a small limit makes the preview budget cover the output", async () => {
    const { run } = guardWith({ maxBytes: 100 });
    const text = `${Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join("\n")}\n`; // 131 bytes
    const result = await run(["cat", fixture("small", text)]);
    expect(result.kind).toBe("preview");
    const preview = result.text.toString();
    for (let i = 1; i <= 20; i++) expect(preview.split(`\nline ${i}\n`).length).toBe(2);
    expect(preview).not.toContain("--- last");
  });
});

describe("exec guard: commands that do not end", () => {
  it("kills the whole process group on timeout, exit 124", async () => {
    const { run } = guardWith();
    const pidFile = join(tmp.path, "grandchild.pid");
    const result = await run(["sh", "-c", `sleep 1000 & echo $! > ${pidFile}; sleep 1000`], {
      timeoutMs: 500,
    });
    const grandchild = await waitForPid(pidFile);
    expect(result.exitCode).toBe(124);
    expect(result.outcome?.timedOut).toBe(true);
    expect(result.kind).toBe("output");
    expect(result.text.toString()).toContain("[clawguard] timed out after 500 ms: stopped");
    expect(result.event.attrs).toMatchObject({ exit_code: 124, timed_out: true });
    await expect.poll(() => processAlive(grandchild), { timeout: 2000, interval: 20 }).toBe(false);
  });

  it("follows SIGTERM with SIGKILL after the grace period when TERM is ignored", async () => {
    const { run } = guardWith({ killGraceMs: 300 });
    const started = Date.now();
    const result = await run(["sh", "-c", 'trap "" TERM; sleep 1000'], { timeoutMs: 200 });
    const took = Date.now() - started;
    expect(result.exitCode).toBe(124);
    expect(result.outcome?.signal).toBe("SIGKILL");
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(5000);
  });

  it("leaves no straggler ignoring TERM once the leader has gone", async () => {
    const { run } = guardWith({ killGraceMs: 5000 });
    const pidFile = join(tmp.path, "straggler.pid");
    const started = Date.now();
    const result = await run(
      ["sh", "-c", `(trap "" TERM; exec sleep 1000) & echo $! > ${pidFile}; sleep 1000`],
      { timeoutMs: 500 },
    );
    const straggler = await waitForPid(pidFile);
    expect(result.exitCode).toBe(124);
    expect(Date.now() - started).toBeLessThan(4000);
    await expect.poll(() => processAlive(straggler), { timeout: 1000, interval: 20 }).toBe(false);
  });

  it("spills and previews a timed-out command with big output", async () => {
    const { run } = guardWith();
    const result = await run(["sh", "-c", `cat "$1"; sleep 1000`, "sh", fixture("x", "x\n".repeat(2000))], {
      timeoutMs: 300,
    });
    expect(result.kind).toBe("preview");
    expect(result.exitCode).toBe(124);
    expect(result.text.toString()).toContain("[clawguard] exit code 124 (timed out)");
  });
});

describe("exec guard: commands that cannot run", () => {
  it("reports a missing binary with 127 and a clear message", async () => {
    const { run } = guardWith();
    const result = await run(["clawguard-no-such-command-xyz", "arg"]);
    expect(result.exitCode).toBe(127);
    expect(result.kind).toBe("failed");
    expect(result.text.toString()).toBe(
      "clawguard: command not found: clawguard-no-such-command-xyz (check the name and PATH)\n",
    );
    expect(result.event).toMatchObject({
      type: "exec.failed",
      severity: "error",
      attrs: { reason: "not_found", exit_code: 127 },
    });
    expect(spillFiles().filter((f) => f.endsWith(".out"))).toEqual([]);
  });

  it("reports a file that is not executable with 126", async () => {
    const { run } = guardWith();
    const script = fixture("script.sh", "#!/bin/sh\necho hi\n");
    const result = await run([script]);
    expect(result.exitCode).toBe(126);
    expect(result.text.toString()).toContain(`permission denied: ${script}`);
    expect(result.event.attrs).toMatchObject({ reason: "permission_denied" });
  });

  it("refuses a command the policy denies, without running it, and drafts exec.denied", async () => {
    const { run } = guardWith({ policy: { deny: ["touch *"] } });
    const target = join(tmp.path, "touched");
    const result = await run(["touch", target]);
    expect(result.kind).toBe("refused");
    expect(result.exitCode).toBe(126);
    expect(result.text.toString()).toBe(
      `clawguard: refused to run touch ${target}: it matches deny rule "touch *"\n`,
    );
    expect(existsSync(target)).toBe(false);
    expect(result.event).toMatchObject({
      type: "exec.denied",
      severity: "warn",
      attrs: { command: `touch ${target}`, rule: "touch *" },
    });
    expect(validateDraft(result.event).ok).toBe(true);
  });

  it("refuses with default deny when no allow rule matches", async () => {
    const { run } = guardWith({ policy: { default: "deny", allow: ["echo *"] } });
    expect((await run(["echo", "hi"])).kind).toBe("output");
    const refused = await run(["ls"]);
    expect(refused.kind).toBe("refused");
    expect(refused.event.attrs).toMatchObject({ rule: null });
  });

  it("runs what a deny-list cannot check, and records it in exec.completed", async () => {
    const { run } = guardWith({ policy: { deny: ["rm *"] } });
    const result = await run(["sh", "-c", "CMD=echo; $CMD ran"]);
    expect(result.text.toString()).toBe("ran\n");
    expect(result.event).toMatchObject({
      type: "exec.completed",
      attrs: { unresolved: ["a program name known only at run time ($CMD)"] },
    });
    expect(validateDraft(result.event).ok).toBe(true);
    const refused = await run(["sh", "-c", "echo $(rm x)"]);
    expect(refused.event).toMatchObject({ type: "exec.denied", attrs: { rule: "rm *" } });
  });

  it("reports a working directory that does not exist", async () => {
    const { run } = guardWith();
    const result = await run(["ls"], { cwd: join(tmp.path, "missing") });
    expect(result).toMatchObject({ kind: "failed", exitCode: 126 });
    expect(result.event.attrs).toMatchObject({ reason: "bad_cwd" });
  });

  it("refuses limits out of range instead of allocating or firing at once", async () => {
    const { run } = guardWith();
    for (const extra of [
      { maxBytes: 2 ** 31 },
      { timeoutMs: 2 ** 31 },
      { maxBytes: 0 },
      { timeoutMs: 1.5 },
    ]) {
      const err = await run(["true"], extra).catch((e: unknown) => e);
      expect(isClawguardError(err, "input.invalid")).toBe(true);
      expect((err as Error).message).toMatch(/^(maxBytes|timeoutMs): expected an integer in 1\.\.\d+, got /);
    }
  });
});

import { chmodSync, copyFileSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { type ExecPolicy, evaluatePolicy } from "./policy.ts";

/**
 * Bypasses a fresh attacker found against the policy (issue 13, "Exec policy that means what it
 * says"): each case ran (or was allowed) before the fix. The workspace holds what an agent can
 * plant there: a copy of rm named ls, on a PATH directory of its own and in the working directory.
 */
const ws = tempDir("clawguard-bypass-");
afterAll(() => ws.cleanup());
const wsBin = join(ws.path, "bin");
mkdirSync(wsBin);
const rm = realpathSync("/bin/rm");
copyFileSync(rm, join(wsBin, "ls"));
copyFileSync(rm, join(ws.path, "ls"));
// A fake busybox: a script that would run anything, named like the multi-call binary.
writeFileSync(join(ws.path, "busybox"), '#!/bin/sh\nexec rm "$@"\n');
chmodSync(join(ws.path, "busybox"), 0o755);
// A link to the real ls is the real ls, wherever the link is.
symlinkSync(realpathSync("/bin/ls"), join(ws.path, "ls-link"));
// A link named ls to nothing yet: the agent creates its target after the check.
mkdirSync(join(ws.path, "dangling"));
symlinkSync(join(ws.path, "later"), join(ws.path, "dangling", "ls"));

const SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin";
const ctx = { env: { PATH: SYSTEM_PATH, HOME: ws.path }, cwd: ws.path };
const evaluate = (p: ExecPolicy, argv: string[], env: NodeJS.ProcessEnv = ctx.env) =>
  evaluatePolicy(p, argv, { ...ctx, env });
const sh = (line: string) => ["sh", "-c", line];

const allowList: ExecPolicy = {
  default: "deny",
  allow: ["ls *", "ls", "git *", "cat *", "grep *"],
  deny: [],
};

/** [argv, what the refusal names]: each is refused by the allow-list above. */
const ALLOW_LIST_BYPASSES: [string[], string][] = [
  // Login and interactive shells first run startup files the agent can write.
  [["bash", "-l", "-c", "ls"], "bash -l, which first runs startup files"],
  [["bash", "-lc", "ls"], "bash -l"],
  [["bash", "-i", "-c", "ls"], "bash -i"],
  [["bash", "-ic", "ls"], "bash -i"],
  [["sh", "-l", "-c", "ls"], "sh -l"],
  [["bash", "--login", "-c", "ls"], "bash --login"],
  [["bash", "--rcfile", "x", "-c", "ls"], "bash --rcfile"],
  [["bash", "--init-file", "x", "-c", "ls"], "bash --init-file"],
  [["zsh", "-c", "ls"], "zsh without -f, which first runs ~/.zshenv"],
  [sh("BASH_ENV=x bash -c ls"), "the variable BASH_ENV"],
  [sh("ENV=x sh -c ls"), "the variable ENV"],
  [["sudo", "-i", "ls"], "sudo -i"],
  [sh("exec -l bash -c ls"), "exec -l"],
  [sh("exec -a -bash bash -c ls"), "-bash: a program started under another name"],
  [["env", "--argv0=-bash", "bash", "-c", "ls"], "-bash: a program started under another name"],
  [sh("exec -a ls /bin/busybox rm x"), "ls: a program started under another name"],
  [["su", "-", "root", "-c", "ls"], "su -l"],
  // The loader and other code-injecting variables, however they are set.
  [sh("LD_LIBRARY_PATH=. ls"), "the variable LD_LIBRARY_PATH"],
  [["env", "LD_LIBRARY_PATH=.", "ls"], "the variable LD_LIBRARY_PATH"],
  [sh("export LD_LIBRARY_PATH=.; ls"), "the variable LD_LIBRARY_PATH"],
  [sh("LD_AUDIT=./a.so ls"), "the variable LD_AUDIT"],
  [sh("read LD_PRELOAD < f; export LD_PRELOAD; ls"), "the variable LD_PRELOAD"],
  [sh("GCONV_PATH=. ls"), "the variable GCONV_PATH"],
  [["env", "SHELL=./ls", "sh", "-c", "ls"], "the variable SHELL"],
  // PATH changed inside the line, by any means bash has.
  [sh("printf -v PATH %s bin; ls"), "which file ls is (the command changes PATH: printf PATH)"],
  [sh("read PATH < f; ls"), "(the command changes PATH: read PATH)"],
  [sh("IFS=: read -r PATH x < f; ls"), "(the command changes PATH: read PATH x)"],
  [sh("read -a PATH < f; ls"), "changes PATH"],
  [sh("mapfile -t PATH < f; ls"), "changes PATH"],
  [sh("getopts a PATH; ls"), "changes PATH"],
  [sh("declare PATH=bin; ls"), "changes PATH"],
  [sh("typeset PATH=bin; ls"), "changes PATH"],
  [sh("f() { local PATH=bin; ls; }; f"), "changes PATH"],
  [sh("f() { local PATH; ls; }; f"), "changes PATH"],
  [sh("readonly PATH=bin; ls"), "changes PATH"],
  [sh("export PATH=bin; ls"), "changes PATH"],
  [sh("PATH+=:bin; ls"), "changes PATH"],
  [sh("PATH[0]=bin; ls"), "changes PATH"],
  [sh("unset PATH; ls"), "changes PATH"],
  [sh("for PATH in bin; do ls; done"), "changes PATH"],
  [["bash", "-c", "let PATH=1; ls"], "changes PATH"],
  [["bash", "-c", "((PATH=1)); ls"], "changes PATH"],
  [["bash", "-c", "for ((i=0; i<1; PATH++)); do ls; done"], "changes PATH"],
  [["bash", "-c", "a[PATH=1]=x; ls"], "changes PATH"],
  [["bash", "-c", ": $((PATH=1)); ls"], "changes PATH"],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
  [["bash", "-c", ": ${PATH:=bin}; ls"], "changes PATH"],
  [["bash", "-c", "declare -n p=PATH; p=bin; ls"], "a variable named only at run time (declare -n)"],
  [["bash", "-c", 'read "$v"; ls'], "a variable named only at run time"],
  [sh("eval 'PATH=bin'; ls"), "changes PATH"],
  [sh("builtin read PATH; ls"), "changes PATH"],
  [["bash", "-c", "ls; read PATH"], "changes PATH"], // order does not matter: loops repeat
  [sh("hash -p ./ls cat; cat x"), "matches no allow rule"],
  [["bash", "-c", "BASH_CMDS[cat]=./ls; cat x"], "BASH_CMDS, which changes what a name runs"],
  [["bash", "-c", "shopt -s expand_aliases\nBASH_ALIASES[cat]=./ls\ncat x"], "BASH_ALIASES"],
  [["bash", "-c", "EXECIGNORE=/usr/bin/ls:/bin/ls; ls"], "the command changes PATH: EXECIGNORE"],
  // env's own ways to change what runs.
  [["env", "-i", "ls"], "which file ls is (the command changes PATH: env -i)"],
  [["env", "-", "ls"], "env -i"],
  [["env", "-u", "PATH", "ls"], "env -u PATH"],
  [["env", "-C", "bin", "./ls"], "which file ./ls is (the command changes directory: env -C)"],
  [["env", "--chdir", "bin", "./ls"], "env -C"],
  [["env", "--chdir=bin", "./ls"], "env -C"],
  [["env", "-S", "-C bin ./ls"], "env -C"],
  [["env", "-S", "PATH=bin ls"], "changes PATH"],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: env -S expands ${VAR} itself
  [["env", "-S", "${X} ls"], "env expands itself"],
  [["find", ".", "-execdir", "./ls", ";"], "find -execdir"],
  // A copy of another program, named like an allowed one, wherever PATH or a path finds it.
  [["./ls"], "matches no allow rule"],
  [[join(ws.path, "ls"), "-la"], "matches no allow rule"],
  [sh("./ls -la"), "matches no allow rule"],
  [["dangling/ls", "-la"], "matches no allow rule"],
  [["/nonexistent/ls"], "matches no allow rule"],
  [["./busybox", "ls"], "matches no allow rule"],
  // git configured on the command line or by its environment to run a program.
  [["git", "-c", "core.fsmonitor=touch /tmp/x", "status"], "git configuration core.fsmonitor"],
  [["git", "-c", "core.pager=sh", "log"], "core.pager"],
  [["git", "-c", "Core.SSHCommand=x", "fetch"], "Core.SSHCommand"],
  [["git", "-c", "alias.x=!rm x", "x"], "alias.x"],
  [["git", "-c", "diff.x.textconv=rm", "diff"], "diff.x.textconv"],
  [["git", "-c", "include.path=./cfg", "status"], "include.path"],
  [["git", "--config-env=core.pager=P", "log"], "core.pager"],
  [["git", "--exec-path=./x", "status"], "git --exec-path"],
  [
    ["env", "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=core.pager", "GIT_CONFIG_VALUE_0=sh", "git", "log"],
    "GIT_CONFIG",
  ],
  [sh("GIT_SSH_COMMAND=x git fetch"), "the variable GIT_SSH_COMMAND"],
  [sh("GIT_EXTERNAL_DIFF=x git diff"), "the variable GIT_EXTERNAL_DIFF"],
  [sh("GIT_PAGER=x git log"), "the variable GIT_PAGER"],
  [sh("GIT_DIR=/tmp/other/.git git status"), "the variable GIT_DIR"],
  [sh("HOME=. git status"), "the variable HOME"],
  [["git", "rebase", "-x", "rm x", "main"], "matches no allow rule"],
  [["git", "fetch", "--upload-pack=rm x", "origin"], "which runs a program it names"],
];

/**
 * Third attack: bash evaluates an array subscript (and a prompt expansion) while the script runs,
 * `$(...)` in it included, where the parser sees a quoted string. Each ran `rm victim` under the
 * allow-list `ls *`, `cat *`, `echo *`.
 */
const LATE_EVALUATION: string[] = [
  'test -v "a[\\$(rm victim)]"',
  'read "a[\\$(rm victim)]" <<< x',
  'printf -v "a[\\$(rm victim)]" x',
  'let "a[\\$(rm victim)]=1"',
  'x="a[\\$(rm victim)]"; echo $(( x ))',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's own syntax
  'x="\\$(rm victim)"; echo ${x@P}',
  "x='a[$(rm victim)]'; echo $((x))",
  "x=$'a[\\x24(rm victim)]'; (( x )); echo",
  "x=$(cat <<'EOF'\na[$(rm victim)]\nEOF\n); [[ x -eq 1 ]]; echo",
];

describe("the allow-list refuses what would run something else", () => {
  it.each(LATE_EVALUATION)("refuses bash -c %s (a substitution bash evaluates late)", async (script) => {
    const p: ExecPolicy = { default: "deny", allow: ["ls *", "cat *", "echo *"], deny: [] };
    const decision = await evaluate(p, ["bash", "-c", script]);
    expect(decision.allowed, JSON.stringify(decision)).toBe(false);
    expect(decision).toMatchObject({ reason: expect.stringContaining("substitution syntax kept as text") });
    // A deny-list with any rule refuses it too: the rule could match what runs.
    expect((await evaluate(denyRm, ["bash", "-c", script])).allowed).toBe(false);
  });

  it("still allows scripts that keep such text but evaluate nothing later, or evaluate only what they wrote", async () => {
    const p: ExecPolicy = { default: "deny", allow: ["ls *", "cat", "echo *"], deny: [] };
    for (const script of [
      "echo '$(date)' is how you run date",
      "cat > run.sh <<'EOF'\nfor i in $(seq 3); do echo $((i * 2)); done\nEOF",
      "echo $((1 + 2)); ls -la",
      'for f in *.md; do echo "$f"; done',
    ])
      expect((await evaluate(p, ["bash", "-c", script])).allowed, script).toBe(true);
  });

  it.each(ALLOW_LIST_BYPASSES.map(([argv, why]) => [argv.join(" "), argv, why]))(
    "refuses %s",
    async (_, argv, why) => {
      const decision = await evaluate(allowList, argv as string[]);
      expect(decision.allowed, JSON.stringify(decision)).toBe(false);
      expect(decision).toMatchObject({ reason: expect.stringContaining(why as string) });
    },
  );

  it("finds a name on a PATH that lists a directory the agent writes as what is there", async () => {
    const env = { ...ctx.env, PATH: `${wsBin}:${SYSTEM_PATH}` };
    expect(await evaluate(allowList, ["ls", "-la"], env)).toMatchObject({
      allowed: false,
      reason: "matches no allow rule (exec.policy.default is deny)",
    });
    // Its real path is still a name an allow rule may give, on purpose.
    const byPath = { ...allowList, allow: [`${join(wsBin, "ls")} *`] };
    expect((await evaluate(byPath, ["ls", "-la"], env)).allowed).toBe(true);
  });

  it("still allows what is what it says", async () => {
    for (const argv of [
      ["ls", "-la"],
      ["./ls-link", "-la"], // a link to the real ls
      ["git", "status"],
      ["git", "-c", "color.ui=never", "log"],
      ["git", "--no-pager", "log"],
      ["env", "LANG=C", "ls"],
      ["env", "-C", "bin", "ls"], // found on a PATH of absolute directories
      ["env", "-S", "ls -la"],
      sh("GIT_AUTHOR_NAME=x git log"),
      sh("x=1; read -r y < f; ls $x"),
      ["bash", "-c", "[[ $PATH = *bin* ]] && [[ $PATH =~ x ]] && ls"],
      sh("cd bin && ls -la"),
      ["bash", "--norc", "-c", "ls"],
      ["zsh", "-f", "-c", "ls"],
    ])
      expect((await evaluate(allowList, argv)).allowed, argv.join(" ")).toBe(true);
  });
});

const denyRm: ExecPolicy = { default: "allow", allow: [], deny: ["rm *"] };

/** Each runs rm through a wrapper the policy did not unwrap: `deny: ["rm *"]` refuses all of them. */
const DENY_LIST_BYPASSES: string[][] = [
  ["setpriv", "--reuid=1000", "--clear-groups", "rm", "x"],
  ["prlimit", "--nofile=10", "rm", "x"],
  ["prlimit", "-n10", "rm", "x"],
  ["setarch", "x86_64", "-R", "rm", "x"],
  ["linux32", "rm", "x"],
  ["linux64", "rm", "x"],
  ["i386", "rm", "x"],
  ["x86_64", "rm", "x"],
  ["ld.so", "/bin/rm", "x"],
  ["/lib64/ld-linux-x86-64.so.2", "/bin/rm", "x"],
  ["ld-linux-x86-64.so.2", "--library-path", ".", "/bin/rm", "x"],
  ["nsenter", "-t", "1", "-m", "rm", "x"],
  ["nsenter", "--target=1", "rm", "x"],
  ["unshare", "-r", "rm", "x"],
  ["chroot", "--userspec=1:1", "/", "rm", "x"],
  ["valgrind", "--tool=none", "rm", "x"],
  ["valgrind", "rm", "x"],
  ["perf", "record", "-o", "f", "--", "rm", "x"],
  ["perf", "stat", "-e", "cycles", "rm", "x"],
  ["perf", "trace", "rm", "x"],
  ["perf", "mem", "record", "rm", "x"],
  ["sg", "root", "rm x"],
  ["sg", "root", "-c", "rm x"],
  sh("hash -p /bin/rm ls; ls x"),
  sh("command -p rm x"),
  sh("builtin command rm x"),
  sh("exec -a ls rm x"),
  sh("exec -a rm /bin/busybox x"),
  ["bash", "-c", "enable -f ./evil.so ls; ls x"], // the library, not /bin/ls, runs
  ["bash", "-c", "BASH_CMDS[ls]=/bin/rm; ls x"],
  ["env", "-a", "rm", "/bin/busybox", "x"],
  ["stdbuf", "-o", "0", "rm", "x"],
  ["flock", "-x", "f", "rm", "x"],
  ["ionice", "-t", "-c", "3", "rm", "x"],
  ["chrt", "-f", "1", "rm", "x"],
  ["chrt", "-T", "1000", "-D", "2000", "-d", "0", "rm", "x"],
  ["taskset", "-c", "0", "rm", "x"],
  ["time", "-v", "rm", "x"],
  sh("time -p rm x"),
  ["nohup", "--", "rm", "x"],
  ["doas", "-n", "rm", "x"],
  ["su", "--command=rm x"],
  ["su", "-s", "/bin/rm", "-c", "x", "root"],
  ["runuser", "-u", "nobody", "--", "rm", "x"],
  ["runuser", "-l", "nobody", "-c", "rm x"],
  ["script", "--command=rm x"],
  ["watch", "-d", "-n", "1", "rm", "x"],
  ["parallel", "rm", ":::", "x"],
  ["parallel", "-j2", "rm {}", ":::", "x"],
  ["parallel", "-j", "2", "rm"],
  sh("echo rm x | parallel"),
  ["find", ".", "-ok", "rm", "{}", ";"],
  ["find", "-L", ".", "-exec", "sh", "-c", "rm x", ";"],
  ["xargs", "-I{}", "rm", "{}"],
  ["xargs", "-0r", "rm"],
  ["strace", "-etrace=all", "rm", "x"],
  ["ltrace", "-S", "rm", "x"],
  ["gdb", "-batch", "-ex", "run", "--args", "rm", "x"],
  ["gdb", "-batch", "-ex", "shell rm x"],
  ["gdb", "-ex", "!rm x"],
  ["gdb", "-batch", "-ex", "python import os; os.remove('x')", "/bin/true"],
  ["gdb", "-x", "cmds.gdb"],
  ["toybox", "rm", "x"],
  ["busybox", "xargs", "rm"],
  ["env", "-S", "-i rm x"],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: env -S expands ${VAR} itself
  ["env", "-S", "${X}"],
  ["nice", "-n", "$N", "rm", "x"], // a literal $N: an option value, not a program
  sh("nice -n $N rm x"),
  sh("nice $OPT rm x"),
  sh('timeout "$T" rm x'),
  ["pkexec", "rm", "x"],
  ["systemd-run", "--user", "-p", "x=y", "rm", "x"],
  ["bwrap", "--ro-bind", "/", "/", "--chdir", "/", "rm", "x"],
  ["firejail", "--quiet", "rm", "x"],
  ["fakeroot", "--", "rm", "x"],
  ["catchsegv", "rm", "x"],
  ["eatmydata", "rm", "x"],
  ["capsh", "--", "-c", "rm x"],
  ["ssh", "-o", "ProxyCommand=rm x", "host"],
  ["expect", "-c", "spawn rm x"],
  ["tmux", "new-session", "-d", "rm x"],
  ["git", "rebase", "--exec", "rm x", "main"],
  ["git", "bisect", "run", "rm", "x"],
  ["git", "submodule", "foreach", "rm x"],
  sh("mapfile -C 'rm x' -c 1 a < f"),
  sh("exec 3</bin/rm; /proc/self/fd/3 x"),
  sh("/dev/fd/3 x 3</bin/rm"),
  ["tar", "-cf", "/dev/null", "--checkpoint=1", "--checkpoint-action=exec=rm x", "."],
  ["tar", "-xf", "a.tar", "--to-command=rm x"],
  ["tar", "-I", "rm x", "-xf", "a.tar"],
  ["rsync", "-e", "rm x", "a", "host:b"],
  ["rsync", "--rsh=rm x", "a", "host:b"],
  ["rsync", "-avze", "rm x", "a", "host:b"],
  ["rg", "--pre", "rm", "x", "."],
  ["rg", "--pre=rm", "x"],
  ["sort", "--compress-program=rm", "-S", "1", "big"],
  ["split", "--filter=rm x", "f"],
  ["sdiff", "--diff-program=rm", "a", "b"],
  ["zip", "-T", "-TT", "rm x", "a.zip", "f"],
  ["man", "-P", "rm x", "ls"],
];

describe("deny rules see through every wrapper", () => {
  it.each(DENY_LIST_BYPASSES.map((argv) => [argv.join(" "), argv]))("refuses %s", async (_, argv) => {
    const decision = await evaluate(denyRm, argv as string[]);
    expect(decision.allowed, JSON.stringify(decision)).toBe(false);
  });

  it("says when it refuses a command it could not read, rather than one a rule matched", async () => {
    expect(await evaluate(denyRm, sh("echo rm x | parallel"))).toMatchObject({
      allowed: false,
      reason:
        "runs a command that cannot be read before the run (parallel, which reads its commands from its input), which a deny rule could match",
    });
    // Without a deny rule there is nothing it could match: it runs.
    expect((await evaluate({ ...denyRm, deny: [] }, sh("echo rm x | parallel"))).allowed).toBe(true);
  });

  it("leaves what only looks like these alone", async () => {
    for (const argv of [
      ["perf", "report"],
      ["git", "log", "--oneline"],
      ["gdb", "-batch", "-ex", "bt", "/bin/true", "core"],
      ["parallel", "echo", ":::", "a"],
      ["setarch", "x86_64", "-R", "ls"],
      ["valgrind", "--tool=memcheck", "ls"],
      ["tar", "-xzf", "a.tar.gz", "-C", "out"],
      ["rg", "-n", "--hidden", "pattern", "src"],
      ["sort", "-u", "-k", "2", "f"],
      ["rsync", "-a", "--delete-after", "a/", "b/"],
      sh('bash "$script"; timeout "$secs" make'),
    ])
      expect((await evaluate(denyRm, argv)).allowed, argv.join(" ")).toBe(true);
  });

  it("needs an allow rule of its own for a wrapper that does more than start a program", async () => {
    const p: ExecPolicy = { default: "deny", allow: ["ls *"], deny: [] };
    for (const argv of [
      ["gdb", "--args", "ls", "x"],
      ["valgrind", "ls", "x"],
      ["perf", "stat", "ls", "x"],
      ["ld.so", "/bin/ls", "x"],
      ["setpriv", "--reuid=1", "ls", "x"],
      ["nsenter", "-t", "1", "ls", "x"],
      ["find", ".", "-delete", "-exec", "ls", "{}", ";"],
      ["git", "bisect", "run", "ls"],
      ["rg", "--pre", "ls", "x"],
    ])
      expect((await evaluate(p, argv)).allowed, argv.join(" ")).toBe(false);
    // The transparent ones need none.
    for (const argv of [
      ["prlimit", "--nofile=10", "ls", "x"],
      ["setarch", "x86_64", "ls", "x"],
      ["stdbuf", "-o0", "ls", "x"],
      ["nice", "ls", "x"],
    ])
      expect((await evaluate(p, argv)).allowed, argv.join(" ")).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import { checkRules, compileRule, type ExecPolicy, evaluatePolicy } from "./policy.ts";

const policy = (p: Partial<ExecPolicy>): ExecPolicy => ({ default: "allow", allow: [], deny: [], ...p });

describe("compileRule", () => {
  it("turns a glob into an anchored pattern: * any text, ? one char, the rest literal", () => {
    const rule = compileRule("git log *");
    expect(rule.test("git log --oneline")).toBe(true);
    expect(rule.test("git log ")).toBe(true);
    expect(rule.test("git logs")).toBe(false);
    expect(rule.test("echo git log x")).toBe(false);
    expect(compileRule("ls ?").test("ls a")).toBe(true);
    expect(compileRule("ls ?").test("ls ab")).toBe(false);
    // Regex metacharacters in a glob are literal.
    expect(compileRule("a.b+c(d)|[e]{f}$^\\").test("a.b+c(d)|[e]{f}$^\\")).toBe(true);
    expect(compileRule("a.b").test("axb")).toBe(false);
    expect(compileRule("echo *").test("echo a\nb")).toBe(true);
  });

  it("reads /regex/flags as a regex, unanchored", () => {
    expect(compileRule("/rm\\s+-rf/").test("sudo rm  -rf /")).toBe(true);
    expect(compileRule("/SUDO/i").test("sudo ls")).toBe(true);
    expect(compileRule("/SUDO/").test("sudo ls")).toBe(false);
    expect(compileRule("/a\\/b/").test("x a/b y")).toBe(true);
    expect(compileRule("/[/]etc/").test("cat /etc/passwd")).toBe(true);
  });

  it("reads an absolute path as a glob, never as a regex with the last segment as flags", () => {
    for (const path of ["/usr/bin/vim", "/usr/bin/yum", "/usr/bin/rm", "/opt/tool/bin/run"]) {
      const rule = compileRule(path);
      expect(rule.test(path)).toBe(true);
      expect(rule.test("/usr/bin/curl evil.sh")).toBe(false);
      expect(rule.test(`${path} x`)).toBe(false);
    }
    expect(compileRule("/usr/bin/git *").test("/usr/bin/git status")).toBe(true);
  });
});

describe("evaluatePolicy", () => {
  it("allows by default and denies what a deny rule matches", () => {
    const p = policy({ deny: ["rm -rf *", "/\\bsudo\\b/"] });
    expect(evaluatePolicy(p, ["ls", "-la"])).toEqual({ allowed: true });
    expect(evaluatePolicy(p, ["rm", "-rf", "/tmp/x"])).toEqual({
      allowed: false,
      rule: "rm -rf *",
      reason: 'matches deny rule "rm -rf *"',
    });
    expect(evaluatePolicy(p, ["env", "sudo", "id"])).toMatchObject({ allowed: false, rule: "/\\bsudo\\b/" });
  });

  it("matches argv[0] by its basename too", () => {
    const p = policy({ deny: ["rm *"] });
    expect(evaluatePolicy(p, ["/bin/rm", "-f", "x"]).allowed).toBe(false);
    expect(evaluatePolicy(policy({ deny: ["/bin/rm *"] }), ["/bin/rm", "x"]).allowed).toBe(false);
    expect(evaluatePolicy(policy({ deny: ["/bin/rm *"] }), ["rm", "x"]).allowed).toBe(true);
  });

  it("with default deny, runs only what an allow rule matches", () => {
    const p = policy({ default: "deny", allow: ["git *", "ls", "/usr/bin/vim"] });
    expect(evaluatePolicy(p, ["git", "status"])).toEqual({ allowed: true, rule: "git *" });
    expect(evaluatePolicy(p, ["ls"])).toEqual({ allowed: true, rule: "ls" });
    expect(evaluatePolicy(p, ["ls", "-la"])).toEqual({
      allowed: false,
      reason: "matches no allow rule (exec.policy.default is deny)",
    });
    expect(evaluatePolicy(p, ["/usr/bin/vim"]).allowed).toBe(true);
    expect(evaluatePolicy(p, ["/usr/bin/curl", "http://x"]).allowed).toBe(false);
  });

  it("lets deny win over allow", () => {
    const p = policy({ default: "deny", allow: ["git *"], deny: ["git push *"] });
    expect(evaluatePolicy(p, ["git", "push", "origin"])).toMatchObject({
      allowed: false,
      rule: "git push *",
    });
    expect(evaluatePolicy(p, ["git", "pull"]).allowed).toBe(true);
  });

  it("is not stateful with g or y flags", () => {
    const p = policy({ deny: ["/curl/g"] });
    for (let i = 0; i < 3; i++) expect(evaluatePolicy(p, ["curl", "x"]).allowed).toBe(false);
  });
});

describe("checkRules", () => {
  it("reports each bad regex with its path and the rule", () => {
    const problems = checkRules(["ls *", "/[unclosed/", "/a(/", "/ok/i"], "exec.policy.deny");
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^exec\.policy\.deny\[1\]: not a valid rule "\/\[unclosed\/": /);
    expect(problems[1]).toMatch(/^exec\.policy\.deny\[2\]: not a valid rule "\/a\(\/": /);
  });

  it("accepts globs with any characters", () => {
    expect(checkRules(["a(b", "[x", "*", "/usr/bin/rm"], "exec.policy.allow")).toEqual([]);
  });
});

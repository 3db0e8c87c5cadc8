import { describe, expect, it } from "vitest";
import { redact, redactObject, redactSlice, redactText } from "./index.ts";
import { LineRedactor } from "./lines.ts";

const secrets: [string, string][] = [
  ["aws-access-key", "key AKIAIOSFODNN7EXAMPLE here"],
  ["aws-secret-key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
  ["github-token", "token ghp_0123456789abcdefghijABCDEFGHIJ012345 ok"],
  ["github-token", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"],
  ["openai-key", "OPENAI sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"],
  ["anthropic-key", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789-xyz"],
  ["slack-token", "xoxb-123456789012-1234567890123-abcdefghijklmnop"],
  ["mattermost-token", 'MATTERMOST_BOT_TOKEN="abcdefghijklmnopqrstuvwxyz"'],
  ["mattermost-webhook", "https://mm.example.com/hooks/abcdefghijklmnopqrstuvwxyz"],
  ["private-key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----"],
  ["private-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (cut by a page boundary)"],
  ["bearer", "Authorization: Bearer abc.def-ghi_jkl"],
  ["jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"],
  ["credential", "password=hunter2hunter2"],
];

describe("redact", () => {
  it.each(secrets)("redacts %s", (kind, text) => {
    const { text: out, counts } = redact(text);
    expect(counts[kind]).toBeGreaterThan(0);
    expect(out).toContain("[REDACTED:");
    // Nothing of the secret's distinctive part survives.
    const secretPart = text.match(
      /(AKIA\w+|wJalr\S+|ghp_\w+|github_pat_\w+|sk-\S+|xoxb-\S+|[a-z]{26}|MIIEow|b3BlbnNz\S+|abc\.def\S+|eyJ\S+|hunter2\S+)/,
    )?.[0];
    expect(secretPart && out.includes(secretPart)).toBe(false);
  });

  it("leaves ordinary output alone", () => {
    const text = "compiled 42 files in 3.1s\nerror: cannot find module 'x'\nsk-short is not a key\n";
    expect(redact(text).text).toBe(text);
  });

  it("keeps the name of what was redacted", () => {
    expect(redact("Authorization: Bearer abcdefgh12345678").text).toBe(
      "Authorization: Bearer [REDACTED:bearer]",
    );
  });
});

describe("redactObject", () => {
  it("hides secret-named values at any depth", () => {
    expect(redactObject({ a: 1, api: { token: "t", apiKey: "k", nested: [{ password: "p" }] } })).toEqual({
      a: 1,
      api: { token: "[REDACTED]", apiKey: "[REDACTED]", nested: [{ password: "[REDACTED]" }] },
    });
  });
});

describe("redact on hostile output", () => {
  // Output is whatever a command prints, so an agent can craft it: every pattern stays linear.
  const hostile: [string, string][] = [
    ["flags", " -password".repeat(25_000)],
    ["issuer prefixes", "sk-".repeat(80_000)],
    ["separators", "token=".repeat(40_000)],
    ["unterminated PEM headers", "-----BEGIN PRIVATE KEY-----\n".repeat(9_000)],
    ["URL credentials without @", `x://${"u".repeat(100)}:${"p".repeat(250)} `.repeat(700)],
    ["one long token", "A".repeat(250_000)],
  ];
  it.each(hostile)("redacts 250 KB of %s in linear time (3 s allows for a loaded machine)", (_, text) => {
    const started = performance.now();
    redact(text);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe("redactSlice and LineRedactor: context across a page's edge", () => {
  const key =
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBODYLINEONE\nMHcCAQEEIBODYLINETWO\n-----END EC PRIVATE KEY-----";
  const text = `intro\n${key}\nafter sk_live_4eC39HqLyjWDarjtT1zdp7dc\n`;

  it("redacts a slice that starts inside a key or a token", () => {
    const inKey = text.indexOf("LINETWO");
    expect(redactSlice(text, inKey)).toBe("[REDACTED:private-key]\nafter [REDACTED:stripe-key]\n");
    const inToken = text.indexOf("4eC39");
    expect(redactSlice(text, inToken)).toBe("[REDACTED:stripe-key]\n");
    expect(redactSlice(text, 0, text.indexOf("LINEONE"))).toBe("intro\n[REDACTED:private-key]");
  });

  it("carries an open key block from lines it only passed", () => {
    const lines = text.split("\n");
    const redactor = new LineRedactor();
    for (const line of lines.slice(0, 3)) redactor.pass(line); // intro, BEGIN, body 1
    expect(lines.slice(3).map((line) => redactor.redact(line))).toEqual([
      "[REDACTED:private-key]",
      "[REDACTED:private-key]",
      "after [REDACTED:stripe-key]",
      "",
    ]);
  });
});

describe("redact: prefixed keys need no keyword; code after a secret's name is left alone", () => {
  it.each([
    "glpat-Xy3kP9qLm2Nv8RtW4sZa",
    "npm_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c",
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
    "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",
    "postgres://app:Xq9!vL2pZr@db.internal:5432/app",
    "curl -u deploy:Xq9vL2pZr https://registry.example.com",
    "Authorization: Basic ZGVwbG95OlhxOXZMMnBacg==",
  ])("%s in a plain log line", (secret) => {
    const out = redactText(`2026-12-07 INFO connecting ${secret} now`);
    expect(out).toContain("[REDACTED:");
    expect(out).not.toMatch(/Xy3kP9|Ab3dEf6h|AbCdEfGh|Xq9!?vL2|ZGVwbG95/);
  });

  it.each([
    "const token = req.headers.authorization;",
    "  password: string;",
    "const apiKey = process.env.OPENAI_API_KEY;",
    "  const secret = await getSecret(name);",
    "commit 3f2a9c1d0b8e7f6a5d4c3b2a1f0e9d8c7b6a5f4e",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "request_id=0d6f2b7e-3c1a-4f5e-9b8d-2a7c6e5f4d3b",
    `password: \${DB_PASSWORD}`,
    "Authorization: Bearer <your-token>",
    "  const credentials = createCredentialChecks({ dispatcher, health, log });",
    "const apiKey = resolveProviderApiKey;",
    "token: TokenStore.fromEnvironment(env),",
  ])("%s", (line) => {
    expect(redactText(line)).toBe(line);
  });
});

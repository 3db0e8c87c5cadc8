import { describe, expect, it } from "vitest";
import { redact, redactObject } from "./index.ts";

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

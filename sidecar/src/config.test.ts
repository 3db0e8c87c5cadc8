import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { isClawguardError } from "@clawguard/shared/errors";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { loadSidecarConfig, sharedConfig } from "./config.ts";
import { configSummary } from "./sinks/heartbeat/index.ts";

const dir = tempDir("clawguard-sidecar-config-");
afterAll(() => dir.cleanup());

const load = (spool: string) => {
  const file = join(dir.path, "clawguard.yaml");
  writeFileSync(file, `agent: main\nworkspace: ${dir.path}\nspool:\n${spool}`);
  return () => loadSidecarConfig(file, {}, dir.path);
};

describe("sidecar config: the spool's bounds", () => {
  it("refuses a spool.maxBytes under two segments, naming both ways out", () => {
    for (const spool of [
      "  maxBytes: 4194304\n",
      "  maxBytes: 15MiB\n",
      "  maxBytes: 1MiB\n  segmentBytes: 600KiB\n",
    ]) {
      let error: unknown;
      try {
        load(spool)();
      } catch (err) {
        error = err;
      }
      expect(isClawguardError(error, "config.invalid"), String(error)).toBe(true);
      expect((error as Error).message).toMatch(
        /spool\.maxBytes: expected at least 2 x spool\.segmentBytes \(\d+\), got \d+: raise it, or set spool\.segmentBytes to at most \d+/,
      );
    }
  });

  it("accepts two segments or more", () => {
    expect(load("  maxBytes: 16MiB\n")().spool).toMatchObject({
      maxBytes: 16 * 1024 * 1024,
      segmentBytes: 8 * 1024 * 1024,
    });
    expect(load("  maxBytes: 1MiB\n  segmentBytes: 512KiB\n")().spool.segmentBytes).toBe(512 * 1024);
  });
});

describe("sidecar config: what fleet drift compares", () => {
  const summary = (yaml: string) => {
    const file = join(dir.path, "drift.yaml");
    writeFileSync(file, yaml);
    return configSummary(sharedConfig(loadSidecarConfig(file, {}, dir.path)));
  };
  const agentYaml = (name: string, port: number, extra = "") =>
    `agent: ${name}\nhost: host-${name}\nworkspace: ${dir.path}/ws-${name}\nstateDir: ${dir.path}/state-${name}\napi:\n  listen: 127.0.0.1:${port}\n${extra}`;

  it("leaves out what must differ per agent (api.listen, stateDir, workspace, names), keeps the rest", () => {
    const one = summary(agentYaml("sub1", 18790));
    const two = summary(agentYaml("sub2", 18791));
    expect(two.fingerprint).toBe(one.fingerprint);
    expect(two.keys).toEqual(one.keys);
    const three = summary(agentYaml("sub3", 18792, "exec:\n  maxBytes: 9999\n"));
    expect(three.fingerprint).not.toBe(one.fingerprint);
    const differing = Object.keys(one.keys).filter((k) => one.keys[k] !== three.keys[k]);
    expect(differing).toEqual(["clawguard.exec.maxBytes"]);
  });
});

describe("sidecar config: a provider's models", () => {
  it("refuses a model listed twice for one provider, naming the provider, the model and both entries", () => {
    const file = join(dir.path, "dup-models.yaml");
    writeFileSync(
      file,
      [
        "agent: main",
        `workspace: ${dir.path}`,
        "llm:",
        "  providers:",
        "    acme:",
        "      upstream: http://127.0.0.1:9/v1",
        "      api: openai-completions",
        "      models:",
        "        - { id: gpt-5, contextWindow: 400000 }",
        "        - { id: gpt-5-mini, contextWindow: 400000 }",
        "        - { id: gpt-5, contextWindow: 128000 }",
      ].join("\n"),
    );
    let error: unknown;
    try {
      loadSidecarConfig(file, {}, dir.path);
    } catch (err) {
      error = err;
    }
    expect(isClawguardError(error, "config.invalid"), String(error)).toBe(true);
    expect((error as Error).message).toContain(
      'llm.providers.acme.models.2.id: duplicate model "gpt-5" (first listed at models.0): list each model once, got "gpt-5"',
    );
  });

  it("accepts the same model id under two providers", () => {
    const file = join(dir.path, "two-providers.yaml");
    writeFileSync(
      file,
      [
        "agent: main",
        `workspace: ${dir.path}`,
        "llm:",
        "  providers:",
        "    a: { upstream: http://127.0.0.1:9/v1, api: openai-completions, models: [{ id: m, contextWindow: 1000 }] }",
        "    b: { upstream: http://127.0.0.1:9/v1, api: openai-completions, models: [{ id: m, contextWindow: 1000 }] }",
      ].join("\n"),
    );
    expect(Object.keys(loadSidecarConfig(file, {}, dir.path).llm.providers)).toEqual(["a", "b"]);
  });
});

describe("sidecar config: the role", () => {
  const withRole = (role: string) => {
    const file = join(dir.path, "role.yaml");
    writeFileSync(file, `agent: main\nrole: ${JSON.stringify(role)}\nworkspace: ${dir.path}\n`);
    return () => loadSidecarConfig(file, {}, dir.path);
  };

  it("refuses a role outside [A-Za-z0-9_.-] (it becomes a metric label and part of alert texts)", () => {
    for (const role of ["@channel", "[x](https://e.example)", "gw\u202eyawetag", "gw\u2028x", "_gw", "a b"]) {
      let error: unknown;
      try {
        withRole(role)();
      } catch (err) {
        error = err;
      }
      expect(isClawguardError(error, "config.invalid"), `${role}: ${String(error)}`).toBe(true);
      expect((error as Error).message).toMatch(/role: expected 1-64 chars of \[A-Za-z0-9_.-\]/);
    }
  });

  it("accepts gateway, bot-1, team.a_b", () => {
    for (const role of ["gateway", "bot-1", "team.a_b"]) expect(withRole(role)().role).toBe(role);
  });
});

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "@clawguard/shared/testing";
import { afterEach, beforeEach, expect, it } from "vitest";
import { injectCommand } from "./command.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "clawguard-inject-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const COMPOSE = `services:
  gateway:   # the agent
    image: ghcr.io/openclaw/openclaw:latest
    volumes:
      - ws:/home/node/.openclaw/workspace
`;

const run = (...args: string[]) => runCommand(injectCommand, args, { cwd: dir });

it("prints the injected file on stdout and the summary and to-do on stderr", async () => {
  writeFileSync(join(dir, "compose.yml"), COMPOSE);
  const r = await run("compose.yml");
  expect(r.code).toBe(0);
  expect(r.out).toContain("gateway-clawguard:");
  expect(r.err).toMatch(/gateway\s+gateway\s+\+ gateway-clawguard/);
  expect(r.err).toContain('pathPrepend: ["/opt/clawguard/bin"]');
  expect(r.err).toContain("http://127.0.0.1:18801/llm/<id>");
  expect(r.err).toContain("clawguard exec -- <command>");
  expect(r.err).toContain("clawguard read <id>");
});

it("writes -o atomically, and --remove gives the original back", async () => {
  writeFileSync(join(dir, "compose.yml"), COMPOSE);
  expect((await run("compose.yml", "-o", "out.yml")).code).toBe(0);
  expect(readFileSync(join(dir, "out.yml"), "utf8")).toContain("clawguard-collector:");
  expect((await run("out.yml", "--remove", "-o", "back.yml")).code).toBe(0);
  expect(readFileSync(join(dir, "back.yml"), "utf8")).toBe(COMPOSE);
  expect(readdirSync(dir).sort()).toEqual(["back.yml", "compose.yml", "out.yml"]);
});

it("refuses bad input with exit 2, names service and key, and writes nothing", async () => {
  writeFileSync(
    join(dir, "compose.yml"),
    COMPOSE.replace("    volumes:", "    network_mode: host\n    volumes:"),
  );
  const r = await run("compose.yml", "-o", "out.yml");
  expect(r.code).toBe(2);
  expect(r.err).toContain("services.gateway.network_mode");
  expect(r.out).toBe("");
  expect(existsSync(join(dir, "out.yml"))).toBe(false);
  expect(readdirSync(dir)).toEqual(["compose.yml"]);
});

it("answers usage errors with exit 2 and --help with 0", async () => {
  expect((await run()).code).toBe(2);
  expect((await run("a.yml", "--bogus")).code).toBe(2);
  expect((await run("missing.yml")).err).toContain("cannot read");
  const help = await run("--help");
  expect(help.code).toBe(0);
  expect(help.out).toContain("clawguard.role");
  expect(help.out).toContain("--no-openclaw");
});

it("probes the port the agent runs on as Compose runs it: a variable set in the .env beside the file", async () => {
  writeFileSync(
    join(dir, "compose.yml"),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a compose interpolation, kept as written
    COMPOSE.replace(
      "    volumes:",
      "    command: openclaw gateway run --port ${GWPORT:-19999}\n    volumes:",
    ),
  );
  writeFileSync(join(dir, ".env"), "GWPORT=20000\n");
  const r = await run("compose.yml");
  expect(r.code).toBe(0);
  expect(r.out).toContain("http://127.0.0.1:20000/readyz");
  expect(r.out).not.toContain("19999/readyz");
});

it("--otel writes the OTLP endpoint into every sidecar's environment, and refuses what is not an http(s) URL", async () => {
  writeFileSync(join(dir, "compose.yml"), COMPOSE);
  const r = await run("compose.yml", "--otel", "http://otel-collector:4318");
  expect(r.code).toBe(0);
  const sidecar = r.out.slice(r.out.indexOf("gateway-clawguard:"));
  expect(sidecar).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT: http:\/\/otel-collector:4318\n/);
  expect((await run("compose.yml")).out).not.toContain("OTEL_EXPORTER_OTLP_ENDPOINT");
  for (const bad of ["otel-collector:4318", "grpc://otel:4317", ""]) {
    const refused = await run("compose.yml", "--otel", bad);
    expect(refused.code, bad).toBe(2);
    expect(refused.err).toContain("--otel: expected an http:// or https:// URL");
  }
});

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashEvent } from "@clawguard/shared/chain";
import type { AuditEvent } from "@clawguard/shared/events/envelope";
import { TokenSet } from "@clawguard/shared/http/auth";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EventBus } from "../bus.ts";
import { workspacePaths } from "../paths.ts";
import { Shipper } from "../sinks/shipper/index.ts";
import { Spool } from "../sinks/spool/spool.ts";
import { execGuardConfig } from "../sources/exec-guard/config.ts";
import { createExecGuard, SpillStore } from "../sources/exec-guard/index.ts";
import { createSidecarApp } from "./app.ts";

const TOKEN = "test-token-0123456789abcdef";
const BODY_LIMIT = 4096;
const source = { agent: "main", role: "agent", host: "test-host" };

let tmp: ReturnType<typeof tempDir>;
let spool: Spool;
let shipper: Shipper;
let app: ReturnType<typeof createSidecarApp>;
let paths: ReturnType<typeof workspacePaths>;

/** Builds the app the way main.ts does, from real parts; the shipper is never started. */
type Clock = { offsetMs: number; rttMs: number; measuredAt: string; skewed: boolean } | undefined;

async function build(options: { spoolMaxBytes?: number; clock?: () => Clock } = {}) {
  paths = workspacePaths(tmp.path, "main");
  spool = await Spool.open({
    dir: paths.spool,
    maxBytes: options.spoolMaxBytes ?? 16 * 1024 * 1024,
    segmentBytes: 1024 * 1024,
    fsync: "always",
    fsyncIntervalMs: 1000,
    log: silentLogger,
  });
  const bus = new EventBus(spool);
  const spill = new SpillStore(paths.spill);
  shipper = new Shipper({
    url: "http://127.0.0.1:9",
    token: "ingest",
    spool,
    deadLetterFile: join(paths.agentDir, "dead-letter.jsonl"),
    batchMaxEvents: 100,
    batchMaxBytes: 1 << 20,
    timeoutMs: 1000,
    backoffMinMs: 100,
    backoffMaxMs: 1000,
    log: silentLogger,
  });
  const execGuard = createExecGuard({
    source,
    spill,
    config: execGuardConfig.parse({ maxBytes: 1000, previewBytes: 600, timeoutMs: 10_000 }),
    readCommand: "clawguard read",
  });
  app = createSidecarApp({
    agent: "main",
    workspace: tmp.path,
    tokens: new TokenSet<string>().add(TOKEN, "main"),
    bodyLimitBytes: BODY_LIMIT,
    execGuard,
    spill,
    bus,
    spool,
    inboxDir: paths.inbox,
    shipper,
    ...(options.clock ? { clock: options.clock } : {}),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    log: silentLogger,
  });
}

beforeEach(() => {
  tmp = tempDir("clawguard-api-");
});

afterEach(async () => {
  await shipper?.stop();
  await spool?.close();
  tmp.cleanup();
});

const auth = { authorization: `Bearer ${TOKEN}` };
const json = { ...auth, "content-type": "application/json" };

function exec(body: unknown, headers: Record<string, string> = json) {
  return app.request("/v1/exec", {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function expectError(res: Response, status: number, code: string, message: RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message).toMatch(message);
}

async function storedEvents(): Promise<AuditEvent[]> {
  return (await spool.read(0, 1000, 1 << 30)).map((e) => JSON.parse(e.json) as AuditEvent);
}

describe("sidecar API: health", () => {
  beforeEach(() => build());

  it("answers /healthz without a token", async () => {
    const res = await app.request("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, status: "live", agent: "main" });
  });

  it("answers /readyz with the spool's state", async () => {
    const res = await app.request("/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      ready: true,
      failing: [],
      agent: "main",
      spool: { backlog: 0, head: 0, acked: 0 },
      shipper: { state: "idle" },
    });
  });

  it("answers 404 as JSON for an unknown route", async () => {
    await expectError(await app.request("/nope", { headers: auth }), 404, "not_found", /GET \/nope/);
  });
});

describe("sidecar API: readiness with a clock off from the collector's", () => {
  it("flags the offset beyond the threshold, and stays ready", async () => {
    let clock: Clock;
    await build({ clock: () => clock });
    expect(await (await app.request("/readyz")).json()).not.toHaveProperty("clock");
    clock = { offsetMs: -3_600_000, rttMs: 3, measuredAt: "2026-12-07T00:00:00.000Z", skewed: true };
    const res = await app.request("/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ready: true, warnings: ["clock_skew"], clock });
    clock = { ...clock, offsetMs: 40, skewed: false };
    const body = (await (await app.request("/readyz")).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ clock });
    expect(body).not.toHaveProperty("warnings");
  });
});

describe("sidecar API: readiness with events set aside", () => {
  it("reports the dead-letter file's events as degraded, and stays ready", async () => {
    const file = join(workspacePaths(tmp.path, "main").agentDir, "dead-letter.jsonl");
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, '{"errors":["x"],"event":null}\n{"errors":["y"],"event":null}\n');
    await build();
    const res = await app.request("/readyz");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ready: boolean; degraded: string[]; shipper: { rejected: number } };
    expect(body.ready).toBe(true);
    expect(body.shipper.rejected).toBe(2);
    expect(body.degraded).toEqual([expect.stringMatching(/^dead_letter: 2 event\(s\)/)]);
  });
});

describe("sidecar API: readiness when the spool is full", () => {
  it("is not ready when the spool is nearly full", async () => {
    await build({ spoolMaxBytes: 100 }); // less than the segment header alone
    const res = await app.request("/readyz");
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ready: false, failing: ["spool_full"] });
  });

  it("keeps the event of a command that ran while the spool was full in the inbox", async () => {
    await build({ spoolMaxBytes: 100 });
    const res = await exec({ argv: ["echo", "ran"] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { event_id: string; seq: number | null; output: string };
    expect(body.output).toBe("ran\n");
    expect(body.seq).toBeNull();
    const dropped = readdirSync(paths.inbox);
    expect(dropped).toEqual([`${body.event_id}.json`]);
    expect(JSON.parse(readFileSync(join(paths.inbox, dropped[0] as string), "utf8"))).toMatchObject({
      id: body.event_id,
      type: "exec.completed",
    });
  });
});

describe("sidecar API: auth", () => {
  beforeEach(() => build());

  it("refuses /v1 without a token, naming what is missing", async () => {
    await expectError(
      await exec({ argv: ["true"] }, { "content-type": "application/json" }),
      401,
      "auth.missing",
      /missing Authorization header/,
    );
    await expectError(await app.request("/v1/spill/x"), 401, "auth.missing", /Authorization/);
  });

  it("refuses a wrong or malformed token", async () => {
    await expectError(
      await exec({ argv: ["true"] }, { authorization: "Bearer wrong", "content-type": "application/json" }),
      401,
      "auth.invalid",
      /invalid token/,
    );
    await expectError(
      await exec({ argv: ["true"] }, { authorization: `Basic ${TOKEN}`, "content-type": "application/json" }),
      401,
      "auth.invalid",
      /malformed Authorization header/,
    );
    await expectError(
      await exec(
        { argv: ["true"] },
        { authorization: `Bearer ${TOKEN}x`, "content-type": "application/json" },
      ),
      401,
      "auth.invalid",
      /invalid token/,
    );
  });

  it("runs nothing for an unauthenticated request", async () => {
    const marker = join(tmp.path, "marker");
    await exec({ argv: ["touch", marker] }, { "content-type": "application/json" });
    expect(readdirSync(tmp.path)).not.toContain("marker");
    expect(await storedEvents()).toEqual([]);
  });
});

describe("sidecar API: POST /v1/exec input", () => {
  beforeEach(() => build());

  it("refuses malformed JSON, a wrong content type and an empty body", async () => {
    await expectError(await exec("{not json"), 400, "input.invalid", /^body is not valid JSON/);
    await expectError(
      await exec({ argv: ["true"] }, { ...auth, "content-type": "text/plain" }),
      400,
      "input.invalid",
      /expected Content-Type: application\/json, got "text\/plain"/,
    );
    await expectError(await exec(""), 400, "input.invalid", /empty body/);
  });

  it("refuses a body that is not an object, or has the wrong shape, naming each field", async () => {
    await expectError(await exec([1, 2]), 400, "input.invalid", /expected a JSON object/);
    await expectError(await exec("null"), 400, "input.invalid", /expected a JSON object/);
    await expectError(await exec({ argv: "ls" }), 400, "input.invalid", /^argv: expected 1-4096 strings/);
    await expectError(await exec({ argv: [] }), 400, "input.invalid", /^argv: expected/);
    await expectError(await exec({ argv: ["ls", 3] }), 400, "input.invalid", /^argv: expected/);
    await expectError(await exec({ argv: ["ls\u0000"] }), 400, "input.invalid", /without NUL bytes/);
    await expectError(await exec({}), 400, "input.invalid", /argv or command: expected/);
    await expectError(await exec({ command: "  " }), 400, "input.invalid", /argv or command/);
    await expectError(
      await exec({ argv: ["ls"], command: "ls" }),
      400,
      "input.invalid",
      /argv, command: give one, not both/,
    );
    await expectError(await exec({ argv: ["ls"], session: "" }), 400, "input.invalid", /^session: /);
    await expectError(await exec({ argv: ["ls"], timeoutMs: "5" }), 400, "input.invalid", /^timeoutMs: /);
  });

  it("refuses unknown fields, listing every problem", async () => {
    const res = await exec({ argv: ["ls"], bogus: 1, env: { X: "1" }, maxBytes: -1 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; details: { problems: string[] } } };
    expect(body.error.details.problems).toEqual([
      "bogus: unknown field",
      "env: unknown field",
      "maxBytes: expected an integer in 1..16777216, got -1",
    ]);
    expect(body.error.message).toContain("bogus: unknown field");
  });

  it("refuses limits beyond what the guard can honour", async () => {
    await expectError(
      await exec({ argv: ["true"], maxBytes: 2 ** 31 }),
      400,
      "input.invalid",
      /^maxBytes: expected an integer in 1\.\.16777216, got 2147483648$/,
    );
    await expectError(
      await exec({ argv: ["true"], timeoutMs: 2 ** 31 }),
      400,
      "input.invalid",
      /^timeoutMs: expected an integer in 1\.\.604800000/,
    );
  });

  it("refuses a cwd outside the workspace, and accepts one inside", async () => {
    for (const cwd of ["..", "../..", "/etc", "sub/../../x", 5]) {
      await expectError(
        await exec({ argv: ["pwd"], cwd }),
        400,
        "input.invalid",
        /^cwd: expected a directory inside the workspace$/,
      );
    }
    mkdirSync(join(tmp.path, "..dots"));
    mkdirSync(join(tmp.path, "sub"));
    for (const [cwd, expected] of [
      ["sub", join(tmp.path, "sub")],
      ["..dots", join(tmp.path, "..dots")],
      [join(tmp.path, "sub"), join(tmp.path, "sub")],
      [".", tmp.path],
    ]) {
      const res = await exec({ argv: ["pwd"], cwd });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { output: string }).output).toBe(`${expected}\n`);
    }
  });

  it("refuses text PostgreSQL cannot store and a cwd no directory can have, naming the field", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ argv: ["true"], session: "s\u0000x" }, /session: .*NUL/],
      [{ argv: ["true"], session: "s\ud800" }, /session: .*surrogate/],
      [{ argv: ["echo", "\udc00"] }, /argv: .*surrogate/],
      [{ argv: ["true"], cwd: "c".repeat(300) }, /cwd: .*(255|no such directory)/],
      [{ argv: ["true"], cwd: "no/such/dir" }, /cwd: no such directory/],
      [{ argv: ["true"], cwd: "a\u0000b" }, /cwd: .*NUL/],
    ];
    for (const [body, message] of cases) {
      await expectError(await exec(body), 400, "input.invalid", message);
    }
    expect(await storedEvents()).toEqual([]);
  });

  it("refuses a body over the limit with 413, with or without a Content-Length", async () => {
    const big = JSON.stringify({ argv: ["echo", "x".repeat(BODY_LIMIT)] });
    await expectError(await exec(big), 413, "input.too_large", new RegExp(`body over ${BODY_LIMIT} bytes`));
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const res = await app.request("/v1/exec", {
      method: "POST",
      headers: json,
      body: stream,
      duplex: "half",
    } as RequestInit);
    await expectError(res, 413, "input.too_large", /body over/);
    expect(await storedEvents()).toEqual([]);
  });
});

describe("sidecar API: POST /v1/exec runs", () => {
  beforeEach(() => build());

  it("runs a command and records its event in the chain", async () => {
    const res = await exec({ argv: ["sh", "-c", "echo hi; exit 4"], session: "s1" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      seq: 1,
      kind: "output",
      exit_code: 4,
      output: "hi\n",
      output_encoding: "utf8",
      spill_id: null,
      bytes: 3,
      lines: 1,
    });
    const [event] = await storedEvents();
    expect(event).toMatchObject({
      id: body.event_id,
      seq: 1,
      session: "s1",
      type: "exec.completed",
      attrs: { exit_code: 4, bytes: 3, sha256: body.sha256 },
    });
    expect(hashEvent(event as AuditEvent)).toBe(event?.hash);
  });

  it("runs a shell command line given as command", async () => {
    const res = await exec({ command: "echo $((2 + 3))" });
    expect(((await res.json()) as { output: string }).output).toBe("5\n");
  });

  it("returns small binary output as base64", async () => {
    const res = await exec({ command: "printf 'a\\000b'" });
    const body = (await res.json()) as { output: string; output_encoding: string };
    expect(body.output_encoding).toBe("base64");
    expect(Buffer.from(body.output, "base64")).toEqual(Buffer.from([0x61, 0, 0x62]));
  });

  it("records a refused command as exec.denied", async () => {
    const spill = new SpillStore(paths.spill);
    const guard = createExecGuard({
      source,
      spill,
      config: execGuardConfig.parse({ policy: { deny: ["rm *"] } }),
      readCommand: "clawguard read",
    });
    const denyApp = createSidecarApp({
      agent: "main",
      workspace: tmp.path,
      tokens: new TokenSet<string>().add(TOKEN, "main"),
      bodyLimitBytes: BODY_LIMIT,
      execGuard: guard,
      spill,
      bus: new EventBus(spool),
      spool,
      inboxDir: paths.inbox,
      shipper,
      env: {},
      log: silentLogger,
    });
    const res = await denyApp.request("/v1/exec", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ argv: ["rm", "-rf", "x"] }),
    });
    expect(await res.json()).toMatchObject({ kind: "refused", exit_code: 126, seq: 1 });
    expect((await storedEvents())[0]).toMatchObject({ type: "exec.denied", attrs: { rule: "rm *" } });
    // A shell line, as `command` sends it: the rm inside is found, and nothing runs.
    writeFileSync(join(tmp.path, "victim"), "keep me");
    const line = await denyApp.request("/v1/exec", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ command: "ls | env nice xargs echo; (timeout 5 rm victim)" }),
    });
    expect(await line.json()).toMatchObject({
      kind: "refused",
      exit_code: 126,
      output: expect.stringContaining(
        'runs "rm victim" (through sh -c, timeout), which matches deny rule "rm *"',
      ),
    });
    expect(readFileSync(join(tmp.path, "victim"), "utf8")).toBe("keep me");
  });

  it("spills big output and pages through it with GET /v1/spill/:id", async () => {
    const res = await exec({ command: "seq 1 2000" });
    const body = (await res.json()) as { kind: string; spill_id: string; output: string; bytes: number };
    expect(body.kind).toBe("preview");
    expect(body.spill_id).toMatch(/^[0-9A-Z]{26}$/);
    expect(body.output).toContain(`spill ${body.spill_id}`);

    const lines = await app.request(`/v1/spill/${body.spill_id}?lines=10:12`, { headers: auth });
    expect(lines.status).toBe(200);
    expect(await lines.text()).toBe(
      `10\n11\n12\n[clawguard] lines 10-12; next: clawguard read ${body.spill_id} --lines 13:15\n`,
    );
    const bytes = await app.request(`/v1/spill/${body.spill_id}?offset=0&limit=4`, { headers: auth });
    expect(bytes.headers.get("x-clawguard-total-bytes")).toBe(String(body.bytes));
    expect(bytes.headers.get("x-clawguard-next-offset")).toBe("4");
    expect((await bytes.text()).startsWith("1\n2\n")).toBe(true);
    const grep = await app.request(`/v1/spill/${body.spill_id}?grep=${encodeURIComponent("^199\\d$")}`, {
      headers: auth,
    });
    expect(await grep.text()).toBe(
      Array.from({ length: 10 }, (_, i) => `${1990 + i}: ${1990 + i}\n`).join("") +
        "[clawguard] 10 matching lines\n",
    );
  });
});

describe("sidecar API: GET /v1/spill/:id input", () => {
  beforeEach(() => build());

  it("refuses ids that try to leave the spill directory", async () => {
    for (const id of ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "..", "x".repeat(500), "%00"]) {
      const res = await app.request(`/v1/spill/${id}`, { headers: auth });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      const body = (await res.json()) as { error: { code: string } };
      expect(["input.invalid", "not_found"]).toContain(body.error.code);
    }
    await expectError(
      await app.request("/v1/spill/..%2F..%2Fetc%2Fpasswd", { headers: auth }),
      400,
      "input.invalid",
      /not a spill id: "..\/..\/etc\/passwd"/,
    );
  });

  it("answers 404 for a well-formed id with no spill", async () => {
    await expectError(
      await app.request("/v1/spill/01ARZ3NDEKTSV4RRFFQ69G5FAV", { headers: auth }),
      404,
      "not_found",
      /no spill 01ARZ3NDEKTSV4RRFFQ69G5FAV/,
    );
  });

  it("refuses bad paging parameters, naming them", async () => {
    const id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    await expectError(
      await app.request(`/v1/spill/${id}?offset=-1`, { headers: auth }),
      400,
      "input.invalid",
      /^offset: /,
    );
    await expectError(
      await app.request(`/v1/spill/${id}?limit=abc`, { headers: auth }),
      400,
      "input.invalid",
      /^limit: /,
    );
    await expectError(
      await app.request(`/v1/spill/${id}?lines=5:1`, { headers: auth }),
      400,
      "input.invalid",
      /^--lines: /,
    );
    await expectError(
      await app.request(`/v1/spill/${id}?grep=x&maxMatches=99999`, { headers: auth }),
      400,
      "input.invalid",
      /^maxMatches: /,
    );
  });
});

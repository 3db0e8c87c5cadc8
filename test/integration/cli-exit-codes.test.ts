import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testCollectorApp } from "@clawguard/collector/api/test-app";
import { AuditStore, COLLECTOR_AGENT } from "@clawguard/collector/store/audit-store";
import { createEmbeddedDb } from "@clawguard/collector/store/embedded/index";
import { migrate } from "@clawguard/collector/store/migrations";
import { main } from "@clawguard/deploy/cli/main";
import { TokenSet } from "@clawguard/shared/http/auth";
import { type Listening, listen } from "@clawguard/shared/http/serve";
import { tempDir } from "@clawguard/shared/testing";
import { VERSION } from "@clawguard/shared/version";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The exit-code table (0 ok, 1 failure, 2 usage or bad input, 78 bad configuration) on each
 * command's bad usages, against a real collector (embedded store) where the command asks one.
 */
const READ = "r".repeat(40);
const dir = tempDir("clawguard-exit-codes-");
let collector: Listening;
let close: () => Promise<void>;

beforeAll(async () => {
  const db = await createEmbeddedDb(join(dir.path, "db"));
  await migrate(db);
  const store = new AuditStore(db, { agent: COLLECTOR_AGENT, role: "collector", host: "test" });
  const app = testCollectorApp(db, {
    store,
    ingestTokens: new TokenSet<string>(),
    readTokens: new TokenSet<string>().add(READ, "reader"),
  });
  collector = await listen(app.fetch, "127.0.0.1", 0);
  close = async () => {
    await collector.close();
    await db.close();
  };
}, 60_000);
afterAll(async () => {
  await close?.();
  dir.cleanup();
});

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let out = "";
  let err = "";
  const code = await main(argv, {
    env: { CLAWGUARD_COLLECTOR_URL: collector.url, CLAWGUARD_READ_TOKEN: READ, ...env },
    cwd: dir.path,
    out: (t) => {
      out += typeof t === "string" ? t : Buffer.from(t).toString();
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

describe("exit codes", () => {
  it.each([
    ["--version", ["--version"], 0, new RegExp(`^clawguard ${VERSION} \\(node `)],
    ["a command's --version", ["audit", "--version"], 0, new RegExp(`clawguard ${VERSION}`)],
    ["no command", [], 2, /Usage: clawguard <command>/],
    ["an unknown command", ["nosuch"], 2, /unknown command "nosuch"/],
    ["a time that is no time", ["audit", "list", "--since", "yesterday"], 2, /--since: .*got "yesterday"/],
    ["30 February", ["audit", "list", "--until", "2026-02-30"], 2, /--until: not a real date/],
    [
      "a negative limit",
      ["audit", "list", "--limit", "-3"],
      2,
      /^clawguard audit: --limit: expected a positive integer, got -3$/m,
    ],
    [
      "a limit that is no number",
      ["audit", "list", "--limit", "abc"],
      2,
      /--limit: expected a positive integer, got "abc"/,
    ],
    [
      "a limit past the largest integer",
      ["audit", "list", "--limit", "99999999999999999999"],
      2,
      /--limit: expected at most 9007199254740991, got 99999999999999999999/,
    ],
    [
      "a negative exec limit",
      ["exec", "--max-bytes", "-1", "--", "true"],
      2,
      /^clawguard exec: --max-bytes: expected a positive integer, got -1$/m,
    ],
    [
      "an exec timeout that is no number: the usage error alone, no warning about the workspace first",
      ["exec", "--timeout-ms", "abc", "--", "true"],
      2,
      /^clawguard exec: --timeout-ms: expected a positive integer, got "abc"\n$/,
    ],
    [
      "a route without its group",
      ["route", "nginx"],
      2,
      /^clawguard route nginx: --group NAME is required\n$/,
    ],
    ["memory history without a path", ["memory", "history"], 2, /^clawguard memory history: no path given/],
    [
      "a token file that is not there",
      ["audit", "list", "--token-file", "/no/such/token"],
      2,
      /--token-file/,
    ],
    [
      "verify of an agent with no events",
      ["audit", "verify", "--agent", "nosuch"],
      2,
      /no events from agent "nosuch"/,
    ],
    [
      "an agent name the collector refuses",
      ["audit", "list", "--agent", "a b"],
      2,
      /agent: not an agent name/,
    ],
    ["an unknown audit subcommand", ["audit", "lst"], 2, /unknown subcommand "lst"/],
    [
      "a config tree that is not there",
      ["config", "validate", "/no/such/dir"],
      2,
      /^\/no\/such\/dir: not a directory/m,
    ],
    ["an unknown option", ["sidecar", "--nosuch"], 2, /Unknown option '--nosuch'/],
  ])("%s", async (_what, argv, code, message) => {
    const r = await run(argv as string[]);
    expect(`${r.out}${r.err}`).toMatch(message);
    expect(r.code).toBe(code);
  });

  it("a collector that cannot be reached is a failure (1), not bad input", async () => {
    const r = await run(["audit", "list"], { CLAWGUARD_COLLECTOR_URL: "http://127.0.0.1:9" });
    expect(r.err).toMatch(/cannot reach the collector at http:\/\/127\.0\.0\.1:9/);
    expect(r.code).toBe(1);
  });

  it("no read token anywhere is bad configuration (78)", async () => {
    const r = await run(["audit", "list"], { CLAWGUARD_READ_TOKEN: "" });
    expect(r.err).toMatch(/no read token/);
    expect(r.code).toBe(78);
  });

  it("verify with nothing wrong is 0", async () => {
    const r = await run(["audit", "verify"]);
    expect(r.out).toMatch(/no agents have sent events yet/);
    expect(r.code).toBe(0);
  });
});

describe("sidecar --check agrees with the start", () => {
  const bad: [string, Record<string, unknown>, NodeJS.ProcessEnv, RegExp][] = [
    ["no ingest token", {}, { CLAWGUARD_INGEST_TOKEN: "" }, /no ingest token/],
    [
      "a state dir inside the workspace",
      { stateDir: "ws/.state" },
      {},
      /stateDir: expected a folder outside/,
    ],
    ["a typo in a key", { shiper: {} }, {}, /shiper: unknown key: did you mean shipper\?/],
    [
      "a typo in a nested key",
      { exec: { maxByte: 1024 } },
      {},
      /exec\.maxByte: unknown key: did you mean exec\.maxBytes\?/,
    ],
    [
      "a spool dir on /proc (a recursive mkdir there never returns)",
      {},
      { CLAWGUARD_SPOOL_DIR: "/proc/nope" },
      /spool\.dir: \/proc\/nope is under \/proc, a kernel pseudo filesystem/,
    ],
    [
      "a spool dir under a file",
      {},
      { CLAWGUARD_SPOOL_DIR: "/etc/hostname/sp" },
      /spool\.dir: \/etc\/hostname \(above \/etc\/hostname\/sp\) is not a folder/,
    ],
    ["a bin dir under a file", { binDir: "/etc/hostname/bin" }, {}, /binDir: \/etc\/hostname .*not a folder/],
    [
      "a provider upstream that is no URL",
      { llm: { providers: { acme: { upstream: "not a url", api: "openai-completions" } } } },
      {},
      /upstream/,
    ],
    [
      "a model listed twice for one provider",
      {
        llm: {
          providers: {
            acme: {
              upstream: "http://127.0.0.1:9/v1",
              api: "openai-completions",
              models: [
                { id: "m", contextWindow: 1000 },
                { id: "m", contextWindow: 2000 },
              ],
            },
          },
        },
      },
      {},
      /llm\.providers\.acme\.models\.1\.id: duplicate model "m"/,
    ],
    [
      "an unknown provider API",
      { llm: { providers: { acme: { upstream: "http://127.0.0.1:9/v1", api: "soap" } } } },
      {},
      /api/,
    ],
  ];
  it.each(bad)(
    "%s: both exit 78 with the same message, and the start takes nothing",
    async (_what, extra, env, message) => {
      const root = tempDir("clawguard-check-");
      try {
        const file = join(root.path, "clawguard.yaml");
        const state = join(root.path, "state");
        writeFileSync(file, JSON.stringify({ workspace: "ws", stateDir: state, ...extra }));
        mkdirSync(join(root.path, "ws"));
        const runIn = (argv: string[]) =>
          run(["sidecar", "--config", file, ...argv], { CLAWGUARD_INGEST_TOKEN: "i".repeat(40), ...env });
        const check = await runIn(["--check"]);
        const start = await runIn([]);
        expect(check.err).toMatch(message);
        expect(check.code).toBe(78);
        expect(start.code).toBe(check.code);
        expect(start.err).toBe(check.err);
        expect(existsSync(state)).toBe(false); // no state dir, no lock, no token file
      } finally {
        root.cleanup();
      }
    },
  );
});

describe("a misspelled CLAWGUARD_* variable", () => {
  it("is a warning with the name it meant at sidecar and collector --check, which still pass", async () => {
    const root = tempDir("clawguard-env-typo-");
    try {
      mkdirSync(join(root.path, "ws"));
      const file = join(root.path, "clawguard.yaml");
      writeFileSync(file, JSON.stringify({ workspace: "ws", stateDir: join(root.path, "state") }));
      const sidecar = await run(["sidecar", "--config", file, "--check"], {
        CLAWGUARD_INGEST_TOKEN: "i".repeat(40),
        CLAWGUARD_SPOOLDIR: "/tmp/x",
      });
      expect(sidecar.err).toBe(
        "clawguard sidecar: warning: CLAWGUARD_SPOOLDIR is set but no clawguard program reads it: did you mean CLAWGUARD_SPOOL_DIR?\n",
      );
      expect(sidecar.code).toBe(0);
      const tokens = join(root.path, "tokens");
      writeFileSync(tokens, `main ${"i".repeat(40)}\n`);
      const collector = await run(["collector", "--check"], {
        CLAWGUARD_INGEST_TOKENS_FILE: tokens,
        CLAWGUARD_COLLECTOR_DATA_DIR: join(root.path, "data"),
        CLAWGUARD_EXEC_MAXBYTES: "1",
      });
      expect(collector.err).toMatch(/CLAWGUARD_EXEC_MAXBYTES .*did you mean CLAWGUARD_EXEC_MAX_BYTES\?/);
      expect(collector.code).toBe(0);
    } finally {
      root.cleanup();
    }
  });
});

describe("collector --check agrees with the start", () => {
  const tokens = join(dir.path, "sidecar-tokens");
  const good: NodeJS.ProcessEnv = { CLAWGUARD_INGEST_TOKENS_FILE: tokens, CLAWGUARD_COLLECTOR_URL: "" };
  it("lists the schema's problems and the token file's in one list, each naming its key and file", async () => {
    const root = tempDir("clawguard-collector-all-");
    try {
      const bad = join(root.path, "tokens");
      writeFileSync(bad, "main short\nonly-a-name\n");
      const env = {
        ...good,
        CLAWGUARD_INGEST_TOKENS_FILE: bad,
        CLAWGUARD_FLEET_STALE_FACTOR: "-1",
        CLAWGUARD_COLLECTOR_DATA_DIR: join(root.path, "data"),
      };
      const check = await run(["collector", "--check"], env);
      expect(check.err).toMatch(/has 4 problems:\n {2}- fleet\.staleFactor: .*\n/);
      expect(check.err).toContain(
        `auth.sidecarTokensFile ${bad} line 1: expected "<agent> <token of 16+ chars>"`,
      );
      expect(check.err).toContain(`auth.sidecarTokensFile ${bad} line 2: expected`);
      expect(check.err).toContain("auth: no sidecar tokens");
      expect(check.code).toBe(78);
    } finally {
      root.cleanup();
    }
  });

  const bad: [string, Record<string, unknown>, NodeJS.ProcessEnv, RegExp][] = [
    ["no sidecar tokens", {}, { CLAWGUARD_INGEST_TOKENS_FILE: "" }, /no sidecar tokens/],
    ["no read token", {}, { CLAWGUARD_READ_TOKEN: "" }, /no read token/],
    ["a typo in a key", { ingset: {} }, {}, /ingset: unknown key: did you mean ingest\?/],
    [
      "a data dir on /proc (a recursive mkdir there never returns)",
      { dataDir: "/proc/nope" },
      {},
      /dataDir: \/proc\/nope is under \/proc, a kernel pseudo filesystem/,
    ],
    [
      "a data dir under a file",
      { dataDir: "/etc/hostname/x" },
      {},
      /dataDir: \/etc\/hostname \(above \/etc\/hostname\/x\) is not a folder/,
    ],
    [
      "a sidecar token file that is not there",
      { auth: { sidecarTokensFile: "nope" } },
      { CLAWGUARD_INGEST_TOKENS_FILE: "" },
      /auth\.sidecarTokensFile: cannot read .*nope/,
    ],
    [
      "a controller tick longer than half its lease",
      { controller: { restart: { agents: ["a"] }, tickMs: 4000, leaseTtlMs: 5000 } },
      {},
      /tickMs/,
    ],
    [
      "a Redis URL that is not redis://",
      {},
      { REDIS_URL: "http://127.0.0.1:9" },
      /redis\.url: expected a redis:\/\//,
    ],
    [
      "a Mattermost URL from a variable that is not set",
      { alerts: { mattermost: [{ url: { env: "CLAWGUARD_TEST_UNSET_HOOK" } }] } },
      {},
      /CLAWGUARD_TEST_UNSET_HOOK/,
    ],
    [
      "a silence of a misspelled alert",
      { alerts: { silences: [{ alert: "gatway_down", until: "2099-01-01T00:00:00Z" }] } },
      {},
      /alerts\.silences\.0\.alert: not an alert of the collector \(did you mean "gateway_down"\?\): expected one of gateway_down, .*, got "gatway_down"/,
    ],
  ];
  it.each(bad)(
    "%s: both exit 78 with the same message, and the start opens no store",
    async (_what, extra, env, message) => {
      const root = tempDir("clawguard-collector-check-");
      try {
        writeFileSync(tokens, `main ${"i".repeat(40)}\n`);
        const file = join(root.path, "collector.yaml");
        const data = join(root.path, "data");
        writeFileSync(file, JSON.stringify({ listen: "127.0.0.1:0", dataDir: data, ...extra }));
        const runIn = (argv: string[]) => run(["collector", "--config", file, ...argv], { ...good, ...env });
        const check = await runIn(["--check"]);
        expect(check.err).toMatch(message);
        expect(check.code).toBe(78);
        // A start that got past its checks would run until a signal: it must not get there.
        const start = await Promise.race([
          runIn([]),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error("the start did not refuse within 30 s")), 30_000).unref(),
          ),
        ]);
        expect(start.code).toBe(check.code);
        expect(start.err).toBe(check.err);
        expect(existsSync(data)).toBe(false); // no embedded store opened
      } finally {
        root.cleanup();
      }
    },
    60_000,
  );
});

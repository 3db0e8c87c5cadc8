import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { userInfo } from "node:os";
import { missing } from "@clawguard/shared/testing";

/**
 * Test-only: Debian's monitoring tools (promtool, prometheus, alertmanager, chromium) and a
 * Mattermost stand-in. A missing tool is installed with apt-get when the tests run as root (as .ci/run
 * does); only when that cannot be done are the tests that need it skipped, with a warning (a failure
 * in CI, see `missing`).
 */

const PACKAGES: Record<string, string> = {
  "/usr/bin/promtool": "prometheus",
  "/usr/bin/prometheus": "prometheus",
  "/usr/bin/prometheus-alertmanager": "prometheus-alertmanager",
  "/usr/bin/amtool": "prometheus-alertmanager",
  "/usr/bin/chromium": "chromium",
};

/** The tool's path when it is there (installed now if need be), else undefined (after a warning). */
export function tool(path: keyof typeof PACKAGES | string): string | undefined {
  if (existsSync(path)) return path;
  const pkg = PACKAGES[path];
  if (pkg && userInfo().uid === 0 && existsSync("/usr/bin/apt-get")) {
    try {
      execFileSync("apt-get", ["install", "-y", "--no-install-recommends", pkg], {
        stdio: "ignore",
        timeout: 300_000,
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      });
    } catch {
      // Said below.
    }
    if (existsSync(path)) return path;
  }
  missing(path, "this machine", `not installed (apt-get install ${pkg ?? "?"} failed or is not allowed)`);
  return undefined;
}

export interface MattermostPost {
  text?: string;
  username?: string;
  attachments?: {
    color?: string;
    title?: string;
    text?: string;
    fields?: { title: string; value: string }[];
  }[];
}

/**
 * A Mattermost incoming webhook: POST /hooks/<key> with a JSON body of text and attachments,
 * answered "ok" (as Mattermost does); a body that is not such a message is answered 400.
 */
export async function mattermostStandIn(): Promise<{
  url: string;
  posts: MattermostPost[];
  close(): Promise<void>;
}> {
  const posts: MattermostPost[] = [];
  const read = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  };
  const server: Server = createServer((req, res) => {
    void read(req).then((body) => {
      let post: MattermostPost | undefined;
      try {
        post = JSON.parse(body) as MattermostPost;
      } catch {
        post = undefined;
      }
      const valid =
        req.method === "POST" &&
        req.url?.startsWith("/hooks/") &&
        post &&
        (typeof post.text === "string" || Array.isArray(post.attachments));
      if (!valid || !post) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end('{"id":"web.incoming_webhook.parse.app_error","status_code":400}');
        return;
      }
      posts.push(post);
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hooks/standin`,
    posts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Runs a long-lived tool (prometheus, alertmanager) as a child, killed by its PID at stop. */
export function daemon(bin: string, args: string[]): { output(): string; stop(): Promise<void> } {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-64 * 1024);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid)
        process.kill(child.pid, "SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null && child.pid)
        process.kill(child.pid, "SIGKILL");
    },
  };
}

/** Polls `probe` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

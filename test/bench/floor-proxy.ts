import { createServer, type IncomingHttpHeaders } from "node:http";
import { Agent, type Dispatcher } from "undici";

/**
 * The floor for a proxy in Node: a bare `node:http` server that sends each call on through undici's
 * `dispatch` (the sidecar's own client), with pooled keep-alive connections, and writes the whole
 * answer back in one write. No route, guard, key, usage, event or metric: what one Node process
 * costs per call before the sidecar does anything of its own. Prints its URL; runs until SIGTERM.
 * Usage: floor-proxy.ts <upstream origin>
 */
const upstream = process.argv[2] as string;
const agent = new Agent({ connections: 128, keepAliveTimeout: 60_000 });
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "host", "content-length"]);

class Whole implements Dispatcher.DispatchHandler {
  status = 0;
  headers: IncomingHttpHeaders = {};
  chunks: Buffer[] = [];
  readonly done: (h: Whole) => void;
  readonly failed: (err: Error) => void;
  constructor(done: (h: Whole) => void, failed: (err: Error) => void) {
    this.done = done;
    this.failed = failed;
  }
  onRequestStart(): void {}
  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    this.status = status;
    this.headers = headers;
  }
  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
  }
  onResponseEnd(): void {
    this.done(this);
  }
  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.failed(err);
  }
}

const server = createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on("data", (c: Buffer) => parts.push(c));
  req.on("end", () => {
    const body = Buffer.concat(parts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (!HOP.has(k) && typeof v === "string") headers[k] = v;
    headers["content-length"] = String(body.length);
    const handler = new Whole(
      (h) => {
        const out = Buffer.concat(h.chunks);
        const sent: Record<string, string> = {};
        for (const [k, v] of Object.entries(h.headers)) if (!HOP.has(k) && typeof v === "string") sent[k] = v;
        sent["content-length"] = String(out.length);
        res.writeHead(h.status, sent);
        res.end(out);
      },
      (err) => {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(err.message);
      },
    );
    agent.dispatch(
      { origin: upstream, path: req.url ?? "/", method: req.method as Dispatcher.HttpMethod, headers, body },
      handler,
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address && typeof address === "object") process.stdout.write(`http://127.0.0.1:${address.port}\n`);
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));

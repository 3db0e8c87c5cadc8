import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import { Agent, type Dispatcher } from "undici";

/**
 * The floor for a proxy in Node: a bare `node:http` server that sends each call on through undici's
 * `dispatch` (the sidecar's own client), with pooled keep-alive connections, and writes the whole
 * answer back in one write (an event stream: each chunk as it comes). No route, guard, key, usage,
 * event or metric: what one Node process costs per call before the sidecar does anything of its
 * own. Prints its URL; runs until SIGTERM.
 * Usage: floor-proxy.ts <upstream origin>
 */
const upstream = process.argv[2] as string;
const agent = new Agent({ connections: 128, keepAliveTimeout: 60_000 });
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "host", "content-length"]);

/** The headers that go on (no hop-by-hop ones, no length: each side sets its own). */
const kept = (headers: IncomingHttpHeaders) => {
  const sent: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP.has(k) && typeof v === "string") sent[k] = v;
  return sent;
};

class Relay implements Dispatcher.DispatchHandler {
  status = 0;
  headers: IncomingHttpHeaders = {};
  chunks: Buffer[] = [];
  readonly res: ServerResponse;
  readonly failed: (err: Error) => void;
  /** An event stream goes on chunk by chunk, as the sidecar relays one. */
  streaming = false;
  constructor(res: ServerResponse, failed: (err: Error) => void) {
    this.res = res;
    this.failed = failed;
  }
  onRequestStart(): void {}
  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    this.status = status;
    this.headers = headers;
    this.streaming = String(headers["content-type"]).startsWith("text/event-stream");
    if (this.streaming) this.res.writeHead(status, kept(headers));
  }
  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.streaming) this.res.write(chunk);
    else this.chunks.push(chunk);
  }
  onResponseEnd(): void {
    if (this.streaming) {
      this.res.end();
      return;
    }
    const out = Buffer.concat(this.chunks);
    this.res.writeHead(this.status, { ...kept(this.headers), "content-length": String(out.length) });
    this.res.end(out);
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
    const headers = { ...kept(req.headers), "content-length": String(body.length) };
    const handler = new Relay(res, (err) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { "content-type": "text/plain" }).end(err.message);
    });
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

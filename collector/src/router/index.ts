import { Agent, createServer, request, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import type { Component } from "@clawguard/shared/lifecycle";
import type { Logger } from "@clawguard/shared/log";
import type { Redis } from "ioredis";
import type { FencedReader } from "../controller/lease.ts";
import { getRoute, routeChannel } from "../controller/routes.ts";
import {
  endToEnd,
  formatResponseHead,
  forwardedRequestHeaders,
  parseResponseHead,
  upgradeAnswerHeaders,
} from "./headers.ts";

/** A target's answer head to an upgrade request longer than this is refused (502). */
const MAX_ANSWER_HEAD = 64 * 1024;

export interface RouterOptions {
  group: string;
  host: string;
  port: number;
  /**
   * More ports to listen on (same host), each forwarded to that port of the current target's host:
   * OpenClaw's bridge (18790) beside its gateway port.
   */
  ports?: readonly number[];
  /**
   * Add X-Forwarded-For/-Proto/-Host (off: OpenClaw refuses them unless the router's address is
   * in its `gateway.trustedProxies`, see headers.ts).
   */
  forwardedHeaders?: boolean;
  /** Reads the group's route (the leader writes it under its fencing token; Redis: its copy). */
  lease: FencedReader;
  /** A connection for route change notifications (none: polling only). */
  subscriber?: Redis | undefined;
  prefix: string;
  pollMs: number;
  log: Logger;
  /**
   * The group's targets (its primary's and standby's URLs): a route to anything else is refused,
   * loudly, and the current one kept (a route is read from Redis, which someone other than the
   * leader may write). Empty or none: any target (said once at start).
   */
  targets?: readonly string[];
}

/**
 * Listens where clients expect the gateway and forwards HTTP and WebSocket traffic to the group's
 * current target. On a route change it switches, and closes every connection to the old target
 * so clients reconnect to the new one (a gateway's WebSocket sessions must not stay on a fenced
 * primary).
 */
export class Router implements Component {
  readonly id = "router";
  readonly #o: RouterOptions;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 256 });
  /** Client-side sockets of connections currently forwarded to each target. */
  readonly #open = new Map<string, Set<Socket>>();
  #target: string | undefined;
  /** The main listener first, then one per extra port. */
  #servers: Server[] = [];
  #poll: NodeJS.Timeout | undefined;
  /** The allowed targets, as URL origins; undefined: any. */
  readonly #allowed: ReadonlySet<string> | undefined;
  /** The refused target last logged (one error per target, not one per poll). */
  #refusedLast: string | undefined;
  #refused = 0;

  constructor(options: RouterOptions) {
    this.#o = options;
    const targets = options.targets ?? [];
    this.#allowed = targets.length > 0 ? new Set(targets.map(originOf).filter(Boolean)) : undefined;
  }

  /** Routes refused since start: targets outside the group's. */
  get refused(): number {
    return this.#refused;
  }

  get target(): string | undefined {
    return this.#target;
  }

  get url(): string {
    return this.urls[0] ?? "";
  }

  /** Where it listens: the main port, then the extra ones. */
  get urls(): string[] {
    return this.#servers.map((server) => {
      const address = server.address();
      return typeof address === "object" && address ? `http://${this.#o.host}:${address.port}` : "";
    });
  }

  async start(): Promise<void> {
    if (!this.#allowed)
      this.#o.log.warn(
        "router follows any target Redis names: pass the group's targets (--target) to refuse others",
        { group: this.#o.group },
      );
    await this.refresh();
    if (this.#o.subscriber) {
      await this.#o.subscriber.subscribe(routeChannel(this.#o.prefix));
      this.#o.subscriber.on("message", (_channel, group) => {
        if (group === this.#o.group) void this.refresh();
      });
    }
    this.#poll = setInterval(() => void this.refresh(), this.#o.pollMs).unref();
    await this.#listen(this.#o.port, undefined);
    for (const port of this.#o.ports ?? []) await this.#listen(port, port);
  }

  /** A listener on `port`, forwarding to the target's own port, or to `targetPort` of its host. */
  async #listen(port: number, targetPort: number | undefined): Promise<void> {
    const server = createServer((req, res) => this.#http(req, res, targetPort));
    server.on("upgrade", (req, socket, head) => this.#upgrade(req, socket as Socket, head, targetPort));
    this.#servers.push(server);
    server.listen(port, this.#o.host);
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve).once("error", reject);
    });
  }

  /** The URL a request to `path` goes to: the target, on `targetPort` when it came in on an extra port. */
  #upstream(target: string, path: string, targetPort: number | undefined): URL {
    const url = new URL(path, target);
    if (targetPort !== undefined) url.port = String(targetPort);
    return url;
  }

  /** Reads the route; on a change, switches and drops every connection to the old target. */
  async refresh(): Promise<void> {
    let target: string | undefined;
    try {
      target = (await getRoute(this.#o.lease, this.#o.group))?.target;
    } catch (err) {
      this.#o.log.warn("route not readable; keeping the current one", { error: (err as Error).message });
      return;
    }
    if (!target || target === this.#target) return;
    if (this.#allowed && !this.#allowed.has(originOf(target))) {
      this.#refused += 1;
      if (this.#refusedLast !== target)
        this.#o.log.error("route refused: not one of the group's targets; keeping the current one", {
          group: this.#o.group,
          refused: target.slice(0, 200),
          current: this.#target ?? null,
          allowed: [...this.#allowed],
          refusedTotal: this.#refused,
        });
      this.#refusedLast = target;
      return;
    }
    this.#refusedLast = undefined;
    const old = this.#target;
    this.#target = target;
    this.#o.log.info("route switched", { group: this.#o.group, from: old ?? null, to: target });
    if (old) {
      for (const socket of this.#open.get(old) ?? []) socket.destroy();
      this.#open.delete(old);
    }
  }

  /** Once per connection and target: a keep-alive connection carries many requests. */
  #track(target: string, socket: Socket): void {
    const set = this.#open.get(target) ?? new Set<Socket>();
    this.#open.set(target, set);
    if (set.has(socket)) return;
    set.add(socket);
    socket.once("close", () => set.delete(socket));
  }

  #http(
    req: import("node:http").IncomingMessage,
    res: import("node:http").ServerResponse,
    targetPort: number | undefined,
  ): void {
    const target = this.#target;
    if (!target) {
      res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
      res.end(
        JSON.stringify({ error: { code: "no_route", message: `no route for group ${this.#o.group} yet` } }),
      );
      return;
    }
    this.#track(target, req.socket);
    const url = this.#upstream(target, req.url ?? "/", targetPort);
    const headers = forwardedRequestHeaders(
      req.headers,
      req.socket.remoteAddress,
      url.host,
      this.#o.forwardedHeaders,
    );
    const upstream = request(url, { method: req.method, headers, agent: this.#agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
      answer.pipe(res);
    });
    upstream.once("error", (err) => {
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "application/json" });
        res.end(
          JSON.stringify({ error: { code: "upstream_unreachable", message: `${target}: ${err.message}` } }),
        );
      } else res.destroy();
    });
    req.pipe(upstream);
  }

  #upgrade(
    req: import("node:http").IncomingMessage,
    client: Socket,
    head: Buffer,
    targetPort: number | undefined,
  ): void {
    const target = this.#target;
    if (!target) {
      client.end("HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n");
      return;
    }
    const url = this.#upstream(target, "/", targetPort);
    const upstream = connect({ host: url.hostname, port: Number(url.port) || 80 });
    this.#track(target, client);
    upstream.once("connect", () => {
      // The upgrade itself is hop-by-hop: asked for again, with the end-to-end headers and who asked.
      const headers = forwardedRequestHeaders(
        req.headers,
        client.remoteAddress,
        url.host,
        this.#o.forwardedHeaders,
      );
      headers.connection = "Upgrade";
      if (req.headers.upgrade) headers.upgrade = req.headers.upgrade;
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (const [name, value] of Object.entries(headers))
        for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      relayAnswer(upstream, client);
    });
    const close = () => {
      upstream.destroy();
      client.destroy();
    };
    upstream.once("error", close).once("close", close);
    client.once("error", close).once("close", close);
  }

  async stop(): Promise<void> {
    if (this.#poll) clearInterval(this.#poll);
    for (const sockets of this.#open.values()) for (const s of sockets) s.destroy();
    this.#open.clear();
    const servers = this.#servers.splice(0);
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.#agent.destroy();
    await this.#o.subscriber?.unsubscribe().catch(() => {});
  }
}

/**
 * Relays the target's answer to an upgrade request: its head(s) without their hop-by-hop headers
 * (a 101, an interim 1xx, or a plain answer: a target may decline the upgrade), then the rest as
 * it comes. An answer that is not HTTP/1.x, or whose head does not end, is a 502.
 */
function relayAnswer(upstream: Socket, client: Socket): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const head = parseResponseHead(buffered);
      if (head === undefined && buffered.length <= MAX_ANSWER_HEAD) return;
      if (!head) {
        upstream.off("data", onData);
        client.end("HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
        upstream.destroy();
        return;
      }
      buffered = buffered.subarray(head.length);
      client.write(
        formatResponseHead(head.status, head.reason, upgradeAnswerHeaders(head.status, head.headers)),
      );
      // An interim answer (100, 103): the final one follows.
      if (head.status >= 200 || head.status === 101) break;
    }
    upstream.off("data", onData);
    if (buffered.length > 0) client.write(buffered);
    upstream.pipe(client);
  };
  upstream.on("data", onData);
}

/** A target's scheme, host and port ("" when it is no URL: never allowed). */
function originOf(target: string): string {
  try {
    const url = new URL(target);
    return url.pathname === "/" && !url.search && !url.username && !url.password ? url.origin : "";
  } catch {
    return "";
  }
}

import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { Agent, createServer, request, type Server } from "node:http";
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from "node:net";
import { silentLogger } from "@clawguard/shared/log";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { localLease, redisLease, redisRouteMirror } from "../controller/lease.ts";
import { mirrorRoute, setRoute } from "../controller/routes.ts";
import { memoryFenceStore } from "../store/fence-store.ts";
import { deleteKeys, redisAvailable, TEST_REDIS } from "../store/liveness/test-backends.ts";
import { Router } from "./index.ts";

const prefix = `clawguard-test-${randomBytes(4).toString("hex")}:`;
const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
  await deleteKeys(prefix);
});

/** A stand-in gateway: answers its name over HTTP, and echoes over an upgraded connection. */
async function gateway(name: string): Promise<string> {
  const server: Server = createServer((_, res) => res.end(name));
  server.on("upgrade", (_req, socket: Socket) => {
    socket.write("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n");
    socket.on("data", (d: Buffer) => socket.write(`${name}:${d.toString()}`));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanup.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An upgraded connection through the router; resolves once the 101 came back. */
async function upgrade(url: string): Promise<Socket> {
  const { port } = new URL(url);
  const socket = connect({ host: "127.0.0.1", port: Number(port) });
  await once(socket, "connect");
  socket.write("GET /ws HTTP/1.1\r\nhost: gw\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n");
  const [first] = (await once(socket, "data")) as [Buffer];
  expect(first.toString()).toMatch(/^HTTP\/1.1 101/);
  return socket;
}

const waitFor = async (ok: () => boolean | Promise<boolean>, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe.skipIf(!(await redisAvailable()))("router", () => {
  it("forwards HTTP and upgraded connections to the route, switches on a change, and drops the old target's connections", async () => {
    const [primary, standby] = [await gateway("primary"), await gateway("standby")];
    const redis = new Redis(TEST_REDIS);
    const subscriber = new Redis(TEST_REDIS);
    cleanup.push(
      () => redis.disconnect(),
      () => subscriber.disconnect(),
    );
    const fence = memoryFenceStore();
    const leader = redisLease(redis, fence, { prefix, holder: "collector-1", ttlMs: 10_000 });
    const token = (await leader.acquire()) as number;
    expect(await setRoute(leader, redis, prefix, { group: "gw", target: primary, token })).toBe(true);

    const router = new Router({
      group: "gw",
      host: "127.0.0.1",
      port: 0,
      lease: redisRouteMirror(redis, prefix),
      subscriber,
      prefix,
      pollMs: 60_000, // the notification alone must be enough
      log: silentLogger,
    });
    await router.start();
    cleanup.push(() => router.stop());
    expect(await (await fetch(router.url)).text()).toBe("primary");
    const socket = await upgrade(router.url);
    socket.write("hello");
    const [echo] = (await once(socket, "data")) as [Buffer];
    expect(echo.toString()).toBe("primary:hello");
    const closed = once(socket, "close");

    // Failover: the leader repoints the group; the router switches and drops the old connection.
    expect(await setRoute(leader, redis, prefix, { group: "gw", target: standby, token })).toBe(true);
    await waitFor(() => router.target === standby);
    await closed;
    expect(await (await fetch(router.url)).text()).toBe("standby");

    // A paused former leader, with an older token, cannot point clients back.
    await leader.release();
    const next = redisLease(redis, fence, { prefix, holder: "collector-2", ttlMs: 10_000 });
    const newer = (await next.acquire()) as number;
    expect(await setRoute(leader, redis, prefix, { group: "gw", target: primary, token })).toBe(false);
    expect(await setRoute(next, redis, prefix, { group: "gw", target: standby, token: newer })).toBe(true);
    await router.refresh();
    expect(router.target).toBe(standby);
  });
});

describe.skipIf(!(await redisAvailable()))("router and controller against a route forged in Redis", () => {
  it("the router refuses a target outside its group's and keeps serving; the leader's copy-back replaces the forgery", async () => {
    const [primary, standby, elsewhere] = [
      await gateway("primary"),
      await gateway("standby"),
      await gateway("elsewhere"),
    ];
    const redis = new Redis(TEST_REDIS);
    const subscriber = new Redis(TEST_REDIS);
    cleanup.push(
      () => redis.disconnect(),
      () => subscriber.disconnect(),
    );
    const own = `${prefix}forged:`;
    const leader = redisLease(redis, memoryFenceStore(), {
      prefix: own,
      holder: "collector-1",
      ttlMs: 10_000,
    });
    const token = (await leader.acquire()) as number;
    expect(await setRoute(leader, redis, own, { group: "gw", target: primary, token })).toBe(true);
    const errors: string[] = [];
    const log = { ...silentLogger, error: (message: string) => void errors.push(message) };
    const router = new Router({
      group: "gw",
      host: "127.0.0.1",
      port: 0,
      lease: redisRouteMirror(redis, own),
      subscriber,
      prefix: own,
      pollMs: 60_000,
      log,
      targets: [primary, `${standby}/`],
    });
    await router.start();
    cleanup.push(() => router.stop());

    // Someone who can write Redis points the group elsewhere under a token no lease was granted.
    const key = `${own}{control}:fenced:route:gw`;
    await redis.hset(key, "value", JSON.stringify({ target: elsewhere }), "token", token + 1000);
    await redis.publish(`${own}{control}:routes`, "gw");
    await waitFor(() => router.refused === 1);
    expect(router.target).toBe(primary);
    expect(await (await fetch(router.url)).text()).toBe("primary");
    expect(errors).toEqual(["route refused: not one of the group's targets; keeping the current one"]);
    // Polled again: counted, logged once per target.
    await router.refresh();
    expect(router.refused).toBe(2);
    expect(errors).toHaveLength(1);

    // The leader's copy-back replaces it, higher token and all, and says what it found.
    const route = { group: "gw", target: primary, token };
    expect(await mirrorRoute(redis, own, route, leader)).toEqual({
      outcome: "forged",
      target: elsewhere,
      token: token + 1000,
    });
    expect(await redis.hgetall(key)).toEqual({
      value: JSON.stringify({ target: primary }),
      token: String(token),
    });
    // The same token naming another target: copied over (it may be the copy of an older route of
    // that token, which Redis missed the update of), so the durable route wins there too.
    await redis.hset(key, "value", JSON.stringify({ target: standby }));
    expect(await mirrorRoute(redis, own, route, leader)).toEqual({ outcome: "copied" });
    expect(await redis.hget(key, "value")).toBe(JSON.stringify({ target: primary }));
    expect(await mirrorRoute(redis, own, route, leader)).toEqual({ outcome: "same" });

    // A real failover is followed (one of the group's targets, given with a trailing /).
    expect(await setRoute(leader, redis, own, { group: "gw", target: standby, token })).toBe(true);
    await waitFor(() => router.target === standby);
    expect(await (await fetch(router.url)).text()).toBe("standby");
    await deleteKeys(own);
  });
});

describe("router, one keep-alive client connection", () => {
  it("tracks the connection once however many requests it carries (no listener per request)", async () => {
    const target = await gateway("primary");
    const lease = localLease();
    const token = (await lease.acquire()) as number;
    await setRoute(lease, undefined, prefix, { group: "ka", target, token });
    const router = new Router({
      group: "ka",
      host: "127.0.0.1",
      port: 0,
      lease,
      prefix,
      pollMs: 60_000,
      log: silentLogger,
    });
    await router.start();
    cleanup.push(() => router.stop());
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    try {
      for (let i = 0; i < 20; i++) {
        const body = await new Promise<string>((resolve, reject) => {
          const req = request(router.url, { agent }, (res) => {
            let text = "";
            res.on("data", (c: Buffer) => (text += c));
            res.on("end", () => resolve(text));
          });
          req.on("socket", (s) => sockets.add(s));
          req.once("error", reject).end();
        });
        expect(body).toBe("primary");
      }
      await new Promise((r) => setImmediate(r));
      expect(sockets.size).toBe(1);
      expect(warnings.map((w) => w.name)).not.toContain("MaxListenersExceededWarning");
    } finally {
      process.off("warning", onWarning);
      agent.destroy();
    }
  });
});

/** A stand-in gateway on `host` with a second listener (OpenClaw's bridge) on `bridge` of that host. */
async function twoPorts(name: string, host: string, bridge: number): Promise<string> {
  const main = createServer((_, res) => res.end(`${name}:gateway`));
  const b = createServer((_, res) => res.end(`${name}:bridge`));
  b.on("upgrade", (_req, socket: Socket) => {
    socket.write("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n");
    socket.on("data", (d: Buffer) => socket.write(`${name}:bridge:${d.toString()}`));
  });
  const listening = [once(main, "listening"), once(b, "listening")];
  main.listen(0, host);
  b.listen(bridge, host);
  await Promise.all(listening);
  cleanup.push(() => {
    for (const s of [main, b]) {
      s.closeAllConnections();
      s.close();
    }
  });
  return `http://${host}:${(main.address() as AddressInfo).port}`;
}

describe("router, more than one port (OpenClaw's bridge beside its gateway port)", () => {
  it("serves each extra port from that port of the current target, and switches it with the route", async () => {
    // The same port on three loopback addresses: the router's, the primary's and the standby's.
    const probe = createServer().listen(0, "127.0.0.2");
    await once(probe, "listening");
    const bridge = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const primary = await twoPorts("primary", "127.0.0.2", bridge);
    const standby = await twoPorts("standby", "127.0.0.3", bridge);
    const lease = localLease();
    const token = (await lease.acquire()) as number;
    await setRoute(lease, undefined, prefix, { group: "bridge", target: primary, token });
    const router = new Router({
      group: "bridge",
      host: "127.0.0.1",
      port: 0,
      ports: [bridge],
      lease,
      prefix,
      pollMs: 60_000,
      log: silentLogger,
    });
    await router.start();
    cleanup.push(() => router.stop());
    expect(router.urls[1]).toBe(`http://127.0.0.1:${bridge}`);
    const text = async (url: string) => (await fetch(url)).text();
    expect(await text(router.url)).toBe("primary:gateway");
    expect(await text(`http://127.0.0.1:${bridge}/`)).toBe("primary:bridge");
    const socket = await upgrade(`http://127.0.0.1:${bridge}`);
    socket.write("hi");
    const [echo] = (await once(socket, "data")) as [Buffer];
    expect(echo.toString()).toBe("primary:bridge:hi");
    const closed = once(socket, "close");

    await setRoute(lease, undefined, prefix, { group: "bridge", target: standby, token });
    await router.refresh();
    await closed;
    expect(await text(router.url)).toBe("standby:gateway");
    expect(await text(`http://127.0.0.1:${bridge}/`)).toBe("standby:bridge");
  });
});

describe("router, as a reverse proxy must", () => {
  it("drops hop-by-hop headers both ways (and those Connection names) and, with forwardedHeaders, says who the client was", async () => {
    const seen: Record<string, unknown>[] = [];
    const server: Server = createServer((req, res) => {
      seen.push(req.headers);
      res.setHeader("connection", "x-internal");
      res.setHeader("x-internal", "for this hop only");
      res.setHeader("x-kept", "end to end");
      res.end("ok");
    });
    server.on("upgrade", (req, socket: Socket) => {
      seen.push(req.headers);
      socket.end("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    cleanup.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const lease = localLease();
    const token = (await lease.acquire()) as number;
    await setRoute(lease, undefined, prefix, { group: "hdr", target, token });
    const router = new Router({
      group: "hdr",
      host: "127.0.0.1",
      port: 0,
      forwardedHeaders: true,
      lease,
      prefix,
      pollMs: 60_000,
      log: silentLogger,
    });
    await router.start();
    cleanup.push(() => router.stop());

    const answer = await new Promise<{ headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        const req = request(
          router.url,
          {
            headers: {
              host: "gateway.example",
              connection: "keep-alive, x-secret",
              "x-secret": "for the router only",
              "keep-alive": "timeout=5",
              "proxy-authorization": "Basic cm91dGVyOnNlY3JldA==",
              te: "trailers",
              "x-forwarded-for": "203.0.113.7",
              "x-end-to-end": "yes",
            },
          },
          (res) => {
            let body = "";
            res.on("data", (c: Buffer) => (body += c));
            res.on("end", () => resolve({ headers: res.headers, body }));
          },
        );
        req.once("error", reject).end();
      },
    );
    expect(answer.body).toBe("ok");
    expect(answer.headers["x-internal"]).toBeUndefined();
    expect(answer.headers["x-kept"]).toBe("end to end");
    const got = seen[0] as Record<string, string>;
    for (const name of ["x-secret", "keep-alive", "proxy-authorization", "te"])
      expect(got[name]).toBeUndefined();
    expect(got["x-end-to-end"]).toBe("yes");
    expect(got["x-forwarded-for"]).toBe("203.0.113.7, 127.0.0.1");
    expect(got["x-forwarded-proto"]).toBe("http");
    expect(got["x-forwarded-host"]).toBe("gateway.example");
    expect(got.host).toBe(new URL(target).host);

    // An upgrade carries the same, and still asks for the upgrade.
    const socket = connect({ host: "127.0.0.1", port: Number(new URL(router.url).port) });
    await once(socket, "connect");
    socket.write(
      "GET /ws HTTP/1.1\r\nhost: gateway.example\r\nupgrade: websocket\r\nconnection: Upgrade, x-secret\r\nx-secret: no\r\n\r\n",
    );
    await once(socket, "data");
    socket.destroy();
    const up = seen[1] as Record<string, string>;
    expect(up.upgrade).toBe("websocket");
    expect(up.connection).toBe("Upgrade");
    expect(up["x-secret"]).toBeUndefined();
    expect(up["x-forwarded-for"]).toBe("127.0.0.1");
  });

  it("adds no forwarded headers by default (OpenClaw refuses them from a proxy it does not trust): the client's own pass as they came", async () => {
    const seen: Record<string, unknown>[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.end("ok");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    cleanup.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const lease = localLease();
    const token = (await lease.acquire()) as number;
    await setRoute(lease, undefined, prefix, { group: "plain", target, token });
    const router = new Router({
      group: "plain",
      host: "127.0.0.1",
      port: 0,
      lease,
      prefix,
      pollMs: 60_000,
      log: silentLogger,
    });
    await router.start();
    cleanup.push(() => router.stop());
    await (await fetch(router.url)).text();
    await (await fetch(router.url, { headers: { "x-forwarded-for": "203.0.113.7" } })).text();
    expect(seen[0]?.["x-forwarded-for"]).toBeUndefined();
    expect(seen[0]?.["x-forwarded-proto"]).toBeUndefined();
    expect(seen[1]?.["x-forwarded-for"]).toBe("203.0.113.7");
  });
});

/** A target over a raw socket: records each request's head, answers `answer(head)` as written. */
async function rawTarget(answer: (head: string) => string): Promise<{ url: string; heads: string[] }> {
  const heads: string[] = [];
  const server = createTcpServer((socket) => {
    let data = "";
    socket.on("data", (chunk: Buffer) => {
      data += chunk.toString("latin1");
      const end = data.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = data.slice(0, end);
      data = data.slice(end + 4);
      heads.push(head);
      socket.write(answer(head));
    });
    socket.on("error", () => {});
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanup.push(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, heads };
}

/** Sends `text` to the router over a raw socket; resolves with all it got back until it closed (or `until` matched). */
async function rawExchange(url: string, text: string, until?: RegExp): Promise<string> {
  const socket = connect({ host: "127.0.0.1", port: Number(new URL(url).port) });
  await once(socket, "connect");
  socket.write(text);
  let got = "";
  await new Promise<void>((resolve) => {
    socket.on("data", (chunk: Buffer) => {
      got += chunk.toString("latin1");
      if (until?.test(got)) resolve();
    });
    socket.once("close", () => resolve());
  });
  socket.destroy();
  return got;
}

/** A router on `target` (group `group`). */
async function routerTo(group: string, target: string, forwardedHeaders = false): Promise<Router> {
  const lease = localLease();
  const token = (await lease.acquire()) as number;
  await setRoute(lease, undefined, prefix, { group, target, token });
  const router = new Router({
    group,
    host: "127.0.0.1",
    port: 0,
    forwardedHeaders,
    lease,
    prefix,
    pollMs: 60_000,
    log: silentLogger,
  });
  await router.start();
  cleanup.push(() => router.stop());
  return router;
}

/** A head's headers by lower-case name (repeated ones as a list). */
function headersOf(head: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    out[name] = [...(out[name] ?? []), line.slice(colon + 1).trim()];
  }
  return out;
}

describe("router, the upgrade path as a reverse proxy must", () => {
  const secretive = [
    "connection: close, X-Back-Secret",
    "x-back-secret: leak",
    "keep-alive: timeout=5",
    "proxy-authenticate: Basic",
    "x-kept: end to end",
  ];

  it("drops the target's hop-by-hop headers from an answer that declines the upgrade (200), and relays its body", async () => {
    const target = await rawTarget(() =>
      ["HTTP/1.1 200 OK", ...secretive, "transfer-encoding: chunked", "", "5\r\nhello\r\n0\r\n\r\n"].join(
        "\r\n",
      ),
    );
    const router = await routerTo("up200", target.url);
    for (const upgrade of ["websocket", "h2c"]) {
      const got = await rawExchange(
        router.url,
        `GET /x HTTP/1.1\r\nhost: gw\r\nupgrade: ${upgrade}\r\nconnection: Upgrade, X-Front-Secret\r\nx-front-secret: no\r\nkeep-alive: timeout=9\r\n\r\n`,
        /0\r\n\r\n$/,
      );
      const [head = "", body] = got.split("\r\n\r\n");
      expect(head.split("\r\n")[0]).toBe("HTTP/1.1 200 OK");
      const headers = headersOf(head);
      expect(headers["x-back-secret"]).toBeUndefined();
      expect(headers["keep-alive"]).toBeUndefined();
      expect(headers["proxy-authenticate"]).toBeUndefined();
      expect(headers.connection).toEqual(["close"]);
      expect(headers["x-kept"]).toEqual(["end to end"]);
      expect(headers["transfer-encoding"]).toEqual(["chunked"]);
      expect(body).toBe("5\r\nhello\r\n0");
    }
    // The client's hop-by-hop headers did not reach the target either.
    for (const head of target.heads) {
      const sent = headersOf(head);
      expect(sent["x-front-secret"]).toBeUndefined();
      expect(sent["keep-alive"]).toBeUndefined();
      expect(sent.connection).toEqual(["Upgrade"]);
    }
    expect(target.heads.map((h) => headersOf(h).upgrade)).toEqual([["websocket"], ["h2c"]]);
  });

  it("drops them from a 101 and from an interim answer too, and keeps the upgraded bytes that came with the head", async () => {
    const target = await rawTarget(() =>
      [
        "HTTP/1.1 103 Early Hints",
        "link: </a.css>; rel=preload",
        "x-back-secret: leak",
        "connection: x-back-secret",
        "",
        "HTTP/1.1 101 Switching Protocols",
        "upgrade: websocket",
        ...secretive.filter((h) => !h.startsWith("connection")),
        "connection: Upgrade, X-Back-Secret",
        "",
        "first frame",
      ].join("\r\n"),
    );
    const router = await routerTo("up101", target.url);
    const got = await rawExchange(
      router.url,
      "GET /ws HTTP/1.1\r\nhost: gw\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n",
      /first frame$/,
    );
    const [early = "", switching = "", rest] = got.split("\r\n\r\n");
    expect(early.split("\r\n")[0]).toBe("HTTP/1.1 103 Early Hints");
    expect(headersOf(early)).toEqual({ link: ["</a.css>; rel=preload"] });
    expect(switching.split("\r\n")[0]).toBe("HTTP/1.1 101 Switching Protocols");
    const headers = headersOf(switching);
    expect(headers["x-back-secret"]).toBeUndefined();
    expect(headers["keep-alive"]).toBeUndefined();
    expect(headers.connection).toEqual(["Upgrade"]);
    expect(headers.upgrade).toEqual(["websocket"]);
    expect(headers["x-kept"]).toEqual(["end to end"]);
    expect(rest).toBe("first frame");
  });

  it("answers 502 to a target that does not speak HTTP/1.x", async () => {
    const target = await rawTarget(() => "SSH-2.0-OpenSSH_9.6\r\n\r\n");
    const router = await routerTo("upjunk", target.url);
    const got = await rawExchange(
      router.url,
      "GET /ws HTTP/1.1\r\nhost: gw\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n",
    );
    expect(got.split("\r\n")[0]).toBe("HTTP/1.1 502 Bad Gateway");
  });
});

describe("router, --forwarded-headers: what the client claims about itself", () => {
  const claims =
    "x-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: https\r\nx-forwarded-host: bank.example\r\nforwarded: for=198.51.100.1;proto=https\r\nx-real-ip: 198.51.100.1\r\n";

  it("is replaced by what the router knows, over HTTP and an upgrade, and passes as it came without the flag", async () => {
    const target = await rawTarget(() => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    const forwarding = await routerTo("fwd", target.url, true);
    const plain = await routerTo("nofwd", target.url);
    const requests = [
      `GET / HTTP/1.1\r\nhost: gw.example\r\n${claims}connection: close\r\n\r\n`,
      `GET /ws HTTP/1.1\r\nhost: gw.example\r\n${claims}upgrade: websocket\r\nconnection: Upgrade\r\n\r\n`,
    ];
    for (const text of requests) await rawExchange(forwarding.url, text, /ok$/);
    for (const head of target.heads.splice(0)) {
      const sent = headersOf(head);
      expect(sent["x-forwarded-for"]).toEqual(["203.0.113.7, 127.0.0.1"]);
      expect(sent["x-forwarded-proto"]).toEqual(["http"]);
      expect(sent["x-forwarded-host"]).toEqual(["gw.example"]);
      expect(sent.forwarded).toBeUndefined();
      expect(sent["x-real-ip"]).toBeUndefined();
    }
    for (const text of requests) await rawExchange(plain.url, text, /ok$/);
    expect(target.heads).toHaveLength(2);
    for (const head of target.heads) {
      const sent = headersOf(head);
      expect(sent["x-forwarded-for"]).toEqual(["203.0.113.7"]);
      expect(sent["x-forwarded-proto"]).toEqual(["https"]);
      expect(sent["x-forwarded-host"]).toEqual(["bank.example"]);
      expect(sent.forwarded).toEqual(["for=198.51.100.1;proto=https"]);
      expect(sent["x-real-ip"]).toEqual(["198.51.100.1"]);
    }
  });
});

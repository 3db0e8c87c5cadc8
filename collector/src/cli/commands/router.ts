import { type Command, type Io, intFlag, parse } from "@clawguard/shared/cli/command";
import { untilSignal } from "@clawguard/shared/cli/signals";
import { parseListen } from "@clawguard/shared/config/fields";
import { resolveSecret } from "@clawguard/shared/config/load";
import { ClawguardError } from "@clawguard/shared/errors";
import { loggerFromEnv } from "@clawguard/shared/log";
import { Redis } from "ioredis";
import { COLLECTOR_SECRET_ENV } from "../../config.ts";
import { redisRouteMirror } from "../../controller/lease.ts";
import { getRoute } from "../../controller/routes.ts";
import { Router } from "../../router/index.ts";

const routerHelp = `Usage: clawguard router --group NAME [--target URL]... [--listen HOST:PORT] [--port PORT]... [--forwarded-headers]

Listens where clients expect the gateway and forwards HTTP and WebSocket traffic to the group's
current target, as the collector's controller sets it (in Redis, under its fencing token). On a
change it switches and closes the connections to the old target, so clients reconnect.
Options:
  --group NAME       the gateway group (required)
  --target URL       one of the group's targets (its primary's and standby's, as in the
                     collector's controller.groups); repeatable. A route to any other is refused
                     (error logged, the current one kept). None: any target Redis names
  --listen HOST:PORT default 0.0.0.0:18789 (where OpenClaw's gateway listens)
  --port PORT        also listen on PORT (same host) and forward it to that port of the target
                     (OpenClaw's bridge, 18790); repeatable
  --forwarded-headers
                     add X-Forwarded-For/-Proto/-Host; only with the router's address in OpenClaw's
                     gateway.trustedProxies (OpenClaw refuses them from any other: 403)
  -h, --help         this help
Needs REDIS_URL (or REDIS_URL_FILE); CLAWGUARD_REDIS_KEY_PREFIX as the collector's (clawguard:).`;

const routeHelp = `Usage: clawguard route nginx --group NAME

Prints an nginx upstream block for the group's current target, for those who front gateways with
nginx (reload nginx after a failover, or run this from a hook). Needs REDIS_URL as the router.`;

function redisFrom(io: Io): { redis: Redis; prefix: string } {
  const url = resolveSecret(undefined, io.env, "redis.url", COLLECTOR_SECRET_ENV["redis.url"]);
  if (!url)
    throw new ClawguardError("config.invalid", "no Redis: set REDIS_URL or REDIS_URL_FILE (the collector's)");
  const redis = new Redis(url, { maxRetriesPerRequest: 2 });
  // Redis going away is retried (ioredis reconnects) and the router keeps its route meanwhile: the
  // connection's errors are logged, never left unhandled.
  let down = false;
  redis.on("error", (err: Error) => {
    if (!down) io.err(`clawguard router: redis: ${err.message} (reconnecting)\n`);
    down = true;
  });
  redis.on("ready", () => {
    down = false;
  });
  return {
    redis,
    prefix: io.env.CLAWGUARD_REDIS_KEY_PREFIX ?? "clawguard:",
  };
}

/** Reads routes only, from the copy the leader keeps in Redis. */
const reader = (redis: Redis, prefix: string) => redisRouteMirror(redis, prefix);

export const routerCommand: Command = {
  name: "router",
  help: routerHelp,
  async run(args, io) {
    const { values } = parse(
      "router",
      args,
      {
        group: { type: "string" },
        target: { type: "string", multiple: true },
        listen: { type: "string" },
        port: { type: "string", multiple: true },
        "forwarded-headers": { type: "boolean" },
      },
      false,
    );
    if (values.help) {
      io.out(`${routerHelp}\n`);
      return 0;
    }
    if (!values.group)
      throw new ClawguardError("input.invalid", "clawguard router: --group NAME is required");
    const { host, port } = parseListen(values.listen ?? "0.0.0.0:18789");
    const ports = (values.port ?? []).map((p) => intFlag("port", p, 1) as number);
    for (const p of ports)
      if (p > 65535 || p === port)
        throw new ClawguardError(
          "input.invalid",
          `--port: expected a port other than ${port} up to 65535, got ${p}`,
        );
    const targets = values.target ?? [];
    for (const t of targets) {
      const url = URL.canParse(t) ? new URL(t) : undefined;
      if (!url || !/^https?:$/.test(url.protocol) || url.pathname !== "/" || url.search || url.username)
        throw new ClawguardError(
          "input.invalid",
          `--target: expected a gateway's URL such as http://gateway:18789 (scheme, host, port), got ${JSON.stringify(t)}`,
        );
    }
    const { redis, prefix } = redisFrom(io);
    const subscriber = redis.duplicate();
    // Its outages are the main connection's (logged there); it resubscribes when it reconnects.
    subscriber.on("error", () => {});
    const log = loggerFromEnv(io.env, `router:${values.group}`);
    const router = new Router({
      group: values.group,
      host,
      port,
      ports,
      forwardedHeaders: values["forwarded-headers"] === true,
      targets,
      lease: reader(redis, prefix),
      subscriber,
      prefix,
      pollMs: 2000,
      log,
    });
    const stopping = untilSignal((message) => log.error(message));
    await router.start();
    log.info("router listening", { urls: router.urls, target: router.target ?? null });
    await stopping;
    await router.stop();
    redis.disconnect();
    subscriber.disconnect();
    return 0;
  },
};

export const routeCommand: Command = {
  name: "route",
  help: routeHelp,
  async run(args, io) {
    const [sub, ...rest] = args;
    const { values } = parse("route", rest, { group: { type: "string" } }, false);
    if (values.help || sub === "--help" || sub === "-h") {
      io.out(`${routeHelp}\n`);
      return 0;
    }
    if (sub !== "nginx")
      throw new ClawguardError(
        "input.invalid",
        `clawguard route: expected "nginx", got ${JSON.stringify(sub ?? "")}`,
      );
    if (!values.group)
      throw new ClawguardError("input.invalid", "clawguard route nginx: --group NAME is required");
    const { redis, prefix } = redisFrom(io);
    try {
      const route = await getRoute(reader(redis, prefix), values.group);
      if (!route) throw new ClawguardError("not_found", `no route for group ${values.group} yet`);
      const target = new URL(route.target);
      io.out(
        `# clawguard route for group ${values.group} (fencing token ${route.token})\nupstream clawguard_${values.group.replace(/[^A-Za-z0-9_]/g, "_")} {\n  server ${target.host};\n  keepalive 32;\n}\n`,
      );
      return 0;
    } finally {
      redis.disconnect();
    }
  },
};

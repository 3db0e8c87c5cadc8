import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { connectOnce } from "@clawguard/shared/net";

/**
 * Test-only: what failover drills share: a few Redis commands without a client library (the
 * drill's actuator is a bare script, and the lease is read from outside), the action log the
 * drill's actuator writes, and a watch that two gateways never serve one state at once.
 */

export type Reply = string | number | null;

/**
 * Runs `commands` on Redis at `url` (redis://host:port[/db], no auth) in one round trip and
 * returns their replies (strings, integers, nil; arrays and errors are refused). Bounded in time.
 */
export function redisCall(url: string, commands: string[][], timeoutMs = 2000): Promise<Reply[]> {
  const u = new URL(url);
  const db = u.pathname.replace(/^\//, "");
  const all = db ? [["SELECT", db], ...commands] : commands;
  const wire = all
    .map((args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`)
    .join("");
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port || 6379) });
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`redis ${url}: no answer in ${timeoutMs} ms`)), timeoutMs);
    let buffer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      try {
        const replies = parseReplies(buffer, all.length);
        if (replies === undefined) return;
        clearTimeout(timer);
        socket.end();
        resolve(replies.slice(all.length - commands.length));
      } catch (err) {
        fail(err as Error);
      }
    });
    socket.once("error", fail);
    socket.write(wire);
  });
}

/** `count` replies from `text`, or undefined while some are still to come. */
function parseReplies(text: string, count: number): Reply[] | undefined {
  const replies: Reply[] = [];
  let at = 0;
  while (replies.length < count) {
    const end = text.indexOf("\r\n", at);
    if (end < 0) return undefined;
    const kind = text[at];
    const head = text.slice(at + 1, end);
    if (kind === "+") replies.push(head);
    else if (kind === ":") replies.push(Number(head));
    else if (kind === "$") {
      const length = Number(head);
      if (length < 0) {
        replies.push(null);
      } else {
        // Only ASCII values are read here (keys and tokens): characters are bytes.
        if (text.length < end + 2 + length + 2) return undefined;
        replies.push(text.slice(end + 2, end + 2 + length));
        at = end + 2 + length + 2;
        continue;
      }
    } else throw new Error(`redis: unexpected reply ${JSON.stringify(text.slice(at, end))}`);
    at = end + 2;
  }
  return replies;
}

/** The lease key of a collector with `prefix` (see collector/src/controller/lease.ts; tokens are in PostgreSQL). */
export const leaseKeys = (prefix: string) => ({
  lease: `${prefix}{control}:lease`,
});

/** Where the controller routes `group` now (the target URL), or undefined before its first route. */
export async function readRoute(url: string, prefix: string, group: string): Promise<string | undefined> {
  const [value] = await redisCall(url, [["HGET", `${prefix}{control}:fenced:route:${group}`, "value"]]);
  return value === null ? undefined : (JSON.parse(value as string) as { target: string }).target;
}

/** Polls `get` every `everyMs` until it gives something other than undefined or false. */
export async function until<T>(
  what: string,
  get: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** One action the drill's actuator carried out, with what Redis said about leadership just before. */
export interface ActionRecord {
  /** When the lease was read, just before acting (ms). */
  at: number;
  action: "start" | "stop";
  agent: string;
  port: number;
  /** The fencing token the collector acted under ({token}). */
  token: number;
  /** The pid of the collector that ran the action. */
  by: number;
  /** The lease as it was: "holder|token" (the holder is "host:pid"), or null when nobody held it. */
  lease: string | null;
  /** The newest token a lease was granted with (PostgreSQL: table fencing). */
  fence: number;
  /** The gateway started (start), or the one killed (stop). */
  pid: number | null;
}

export function readActions(file: string): ActionRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as ActionRecord);
}

/**
 * Why an action was taken on stale authority, or undefined when it was not: the collector that
 * ran it must hold the lease at that moment, under the newest token.
 */
export function staleAuthority(a: ActionRecord): string | undefined {
  const [holder, token] = a.lease === null ? [null, null] : (a.lease.split("|") as [string, string]);
  if (holder !== null && Number(holder.slice(holder.lastIndexOf(":") + 1)) !== a.by)
    return `pid ${a.by} acted while ${holder} held the lease`;
  if (a.token !== a.fence) return `acted under token ${a.token}, newest is ${a.fence}`;
  if (token !== null && Number(token) !== a.token)
    return `acted under token ${a.token}, the lease is at ${token}`;
  return undefined;
}

/** Whether something accepts connections on the port (a gateway holding the state runs there). */
export async function listening(port: number): Promise<boolean> {
  return (await connectOnce("127.0.0.1", port, 1000)).open;
}

/** Both gateway ports, every 25 ms: two listening at once would be two gateways on one state. */
export class StateWatch {
  readonly overlaps: number[] = [];
  rounds = 0;
  #stopped = false;
  #loop: Promise<void> | undefined;

  start(ports: [number, number]): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        const [x, y] = await Promise.all(ports.map(listening));
        this.rounds++;
        if (x && y && this.overlaps.length < 100) this.overlaps.push(Date.now());
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }
}

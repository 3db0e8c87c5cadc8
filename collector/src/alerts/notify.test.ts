import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { defang, deliver, mattermostMessage, type Notice, type Post, type Target } from "./notify.ts";

const notice = (over: Partial<Notice> = {}): Notice => ({
  id: "n1",
  status: "firing",
  alert: "gateway_down",
  severity: "P0",
  agent: "gw1",
  role: "gateway",
  summary: "gateway gw1 is down",
  startsAt: "2026-12-07T10:00:00.000Z",
  ...over,
});
const post = (n = notice()): Post => ({ id: n.id, notices: [n], listMax: 20 });

let close: (() => void) | undefined;
afterEach(() => close?.());

/** A real HTTP server answering each request with `handle`; its Mattermost target. */
async function serve(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<Target> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => handle(req, res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  close = () => server.close();
  const { port } = server.address() as AddressInfo;
  return { kind: "mattermost", name: "mm", url: `http://127.0.0.1:${port}/hooks/k` };
}

describe("deliver", () => {
  it("waits what a 429's Retry-After asks (seconds or an HTTP-date), within the cap, instead of the backoff", async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
    };
    let retryAfter = "20";
    const target = await serve((_req, res) => res.writeHead(429, { "retry-after": retryAfter }).end());
    const d = await deliver(target, post(), { attempts: 3, backoffMs: 1000, sleep });
    expect(d).toMatchObject({ ok: false, status: 429, attempts: 3 });
    expect(waits).toEqual([20_000, 20_000]);

    waits.length = 0;
    retryAfter = new Date(Date.now() + 15_000).toUTCString();
    await deliver(target, post(), { attempts: 2, sleep });
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThan(10_000);
    expect(waits[0]).toBeLessThanOrEqual(15_000);

    waits.length = 0;
    retryAfter = "3600";
    await deliver(target, post(), { attempts: 2, retryAfterMaxMs: 45_000, sleep });
    expect(waits).toEqual([45_000]);

    waits.length = 0;
    retryAfter = "soon";
    await deliver(target, post(), { attempts: 3, backoffMs: 1000, sleep });
    expect(waits).toEqual([1000, 2000]);
  });

  it("a connection closed after the body is 'closed before an answer', may not have been delivered, not sent again", async () => {
    let requests = 0;
    const target = await serve((req) => {
      requests++;
      req.socket.destroy();
    });
    const d = await deliver(target, post(), { attempts: 3, sleep: async () => {} });
    expect(d).toMatchObject({ ok: false, unknown: true, attempts: 1 });
    expect(d.error).toMatch(
      /^sent, the connection was closed before an answer \(.*\): it may not have been delivered$/,
    );
    expect(d.error).not.toMatch(/no answer within/);
    expect(requests).toBe(1);
  });

  it("a notice sent and not answered in time says so", async () => {
    const target = await serve(() => {}); // never answers
    const d = await deliver(target, post(), { attempts: 2, answerTimeoutMs: 100, sleep: async () => {} });
    expect(d).toMatchObject({ ok: false, unknown: true, attempts: 1 });
    expect(d.error).toMatch(/^sent, no answer within 100 ms \(.*\): it may not have been delivered$/);
  });
});

describe("Mattermost message", () => {
  it("defangs URLs from agent-controlled text: no autolink in the title, fallback or fields", () => {
    expect(defang("503: http://evil.example/x and HTTPS://a.b.c:8443/p?q www.evil.example")).toBe(
      "503: hxxp://evil[.]example/x and hxxps://a[.]b[.]c:8443/p?q www[.]evil[.]example",
    );
    const m = mattermostMessage(
      notice({ summary: "gateway gw1 is down (unhealthy: gateway: HTTP 503: http://evil.example/x)" }),
    ) as { text: string; attachments: { title: string; fallback: string }[] };
    const [a] = m.attachments;
    for (const text of [a?.title, a?.fallback, m.text]) expect(text).not.toMatch(/https?:\/\/|evil\.example/);
    expect(a?.title).toContain("hxxp://evil\\[.\\]example/x");
  });
});

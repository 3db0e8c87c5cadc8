import { connect } from "node:net";
import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../log.ts";
import { readJson } from "./body.ts";
import { onError } from "./on-error.ts";
import { type Listening, listen } from "./serve.ts";

let server: Listening | undefined;
afterEach(async () => {
  await server?.close(0);
  server = undefined;
});

describe("onError", () => {
  it("logs a client that drops mid-body as a client abort (info, no stack), not an unhandled error", async () => {
    const lines: string[] = [];
    const log = createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) });
    let handled!: () => void;
    const done = new Promise<void>((resolve) => {
      handled = resolve;
    });
    const app = new Hono();
    app.onError((err, c) => {
      const res = onError(log)(err, c);
      handled();
      return res;
    });
    app.post("/v1/events", async (c) => c.json(await readJson(c)));
    server = await listen(app.fetch, "127.0.0.1", 0);
    const socket = connect(server.port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    socket.write(
      'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"events":[',
    );
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    await done;
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.filter((r) => r.level === "error")).toEqual([]);
    const abort = records.find((r) => String(r.msg).includes("client closed the connection"));
    expect(abort?.level).toBe("info");
    expect(abort?.path).toBe("/v1/events");
    expect(JSON.stringify(records)).not.toContain("at ");
  });
});

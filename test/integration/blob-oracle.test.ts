import { createHash } from "node:crypto";
import { tempDir } from "@clawguard/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { Processes, startCollector } from "../support/processes.ts";

/**
 * Memory contents are stored once per sha256 at the collector, whoever uploads them: an agent's
 * sidecar (its ingest token) must not learn from HEAD or PUT whether another agent stored some
 * content (a guessable MEMORY.md, a known secret file). A real collector process over HTTP.
 */

const procs = new Processes();
const home = tempDir("clawguard-blob-oracle-");
afterAll(async () => {
  await procs.cleanup();
  home.cleanup();
});

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("blobs at the collector, asked by another agent's token", () => {
  it("answer the same for content another agent stored as for content nobody stored", {
    timeout: 60_000,
  }, async () => {
    const collector = await startCollector(procs, home.path, ["a", "b"]);
    const call = async (method: string, content: Buffer, token: string, body?: Buffer) => {
      const res = await fetch(`${collector.url}/v1/blobs/${sha(content)}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
        ...(body ? { body } : {}),
      });
      const text = method === "HEAD" ? "" : await res.text();
      const headers = [...res.headers].filter(([name]) => name !== "date");
      return { status: res.status, headers, text: text.replaceAll(sha(content), "<sha>") };
    };
    const { a, b } = collector.tokens as { a: string; b: string };
    const theirs = Buffer.from("# MEMORY\n- the launch code is 0000\n");
    const nobodys = Buffer.from("# MEMORY\n- the launch code is 1234\n");
    expect((await call("PUT", theirs, a, theirs)).status).toBe(201);
    expect((await call("HEAD", theirs, a)).status).toBe(200);

    // b asks about a's content and about content nobody stored: the same answers, byte for byte.
    const headTheirs = await call("HEAD", theirs, b);
    expect(headTheirs.status).toBe(404);
    expect(headTheirs).toEqual(await call("HEAD", nobodys, b));
    const getTheirs = await call("GET", theirs, b);
    expect(getTheirs.status).toBe(401);
    expect(getTheirs).toEqual(await call("GET", nobodys, b));
    const putTheirs = await call("PUT", theirs, b, theirs);
    expect(putTheirs.status).toBe(201);
    expect(putTheirs).toEqual(await call("PUT", nobodys, b, nobodys));
    // Once b uploaded it, b is told (its sidecar skips the upload next time); the operator sees all.
    expect((await call("HEAD", theirs, b)).status).toBe(200);
    expect((await call("HEAD", theirs, collector.read)).status).toBe(200);
    const read = await call("GET", theirs, collector.read);
    expect(read.status).toBe(200);
    expect(read.text).toBe(theirs.toString());
  });
});

import { ClawguardError } from "@clawguard/shared/errors";
import { SHA256_PATTERN } from "@clawguard/shared/events/memory-version";
import { queryInt, readBytes } from "@clawguard/shared/http/body";
import { errorResponse } from "@clawguard/shared/http/on-error";
import type { Context, Hono, Next } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { MemoryStore } from "../../store/memory-store.ts";
import type { ApiDeps } from "../app.ts";
import { agentParam, textParam } from "../params.ts";

const MAX_PATH_CHARS = 1024;

function blobId(c: Context): string {
  const id = c.req.param("sha256") ?? "";
  if (!SHA256_PATTERN.test(id))
    throw new ClawguardError(
      "input.invalid",
      `blob id: expected a sha256 as 64 lower-case hex chars, got ${JSON.stringify(id.slice(0, 80))}`,
    );
  return id;
}

/**
 * Memory file contents, content-addressed (`/v1/blobs/:sha256`), and the versions of a memory file
 * (`/v1/memory/history`). An ingest token is one agent's: it learns about its own uploads only,
 * never whether another agent stored the same content (no existence oracle across agents).
 *   PUT  ingest token: stores the raw body once; 201 {stored: true} when this agent had not uploaded
 *        it, 200 {stored: false} when it had (another agent's upload of it counts for nothing).
 *   HEAD ingest token: 200 (Content-Length is the size) when this agent uploaded it, else 404, so a
 *        sidecar can skip an upload; read token: 200 when stored at all.
 *   GET  read token: the bytes.
 */
export function memoryRoutes(app: Hono, deps: ApiDeps, memory: MemoryStore): void {
  const ingestOnly = async (c: Context, next: Next) => {
    deps.ingestTokens.authenticate(c);
    blobId(c);
    await next();
  };
  const limit = bodyLimit({
    maxSize: deps.blobLimitBytes,
    onError: (c) =>
      errorResponse(
        c,
        413,
        "input.too_large",
        `body over ${deps.blobLimitBytes} bytes (ingest.blobLimitBytes): a memory file this large is not stored`,
      ),
  });

  app.put("/v1/blobs/:sha256", ingestOnly, limit, async (c) => {
    const sha256 = blobId(c);
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/octet-stream\b/i.test(type)) {
      throw new ClawguardError(
        "input.invalid",
        `expected Content-Type: application/octet-stream (the file's raw bytes), got ${JSON.stringify(type || "(none)")}`,
      );
    }
    const agent = deps.ingestTokens.authenticate(c);
    const content = await readBytes(c);
    const stored = await memory.putBlob(sha256, content, agent);
    return c.json({ sha256, size: content.length, stored }, stored ? 201 : 200);
  });

  // Hono answers HEAD with the GET route (and drops the body).
  app.get("/v1/blobs/:sha256", async (c) => {
    if (c.req.method === "HEAD") {
      const size = await memory.blobSize(blobId(c), headCaller(c, deps));
      if (size === null) return c.body(null, 404);
      return c.body(null, 200, { "content-length": String(size) });
    }
    deps.readTokens.authenticate(c);
    const sha256 = blobId(c);
    const content = await memory.getBlob(sha256);
    if (!content) throw new ClawguardError("not_found", `blob ${sha256}: not stored (never uploaded)`);
    return c.body(content, 200, { "content-type": "application/octet-stream" });
  });

  app.get("/v1/memory/history", async (c) => {
    deps.readTokens.authenticate(c);
    const path = textParam(c, "path", MAX_PATH_CHARS);
    if (!path) {
      throw new ClawguardError(
        "input.invalid",
        `path: expected the memory file's path as its sidecar reports it (relative to the workspace, e.g. MEMORY.md), 1-${MAX_PATH_CHARS} chars, got ${JSON.stringify((path ?? "").slice(0, 80))}`,
      );
    }
    const page = await memory.history({
      path,
      agent: agentParam(c),
      cursor: c.req.query("cursor") || undefined,
      limit: Math.max(1, queryInt(c, "limit", 100, 1000)),
    });
    return c.json(page);
  });
}

/**
 * Who asks HEAD: an ingest token's agent (told about its own uploads only), or undefined for a
 * read token (told about every blob); the read set's error when neither knows the token.
 */
function headCaller(c: Context, deps: ApiDeps): string | undefined {
  try {
    return deps.ingestTokens.authenticate(c);
  } catch {
    deps.readTokens.authenticate(c);
    return undefined;
  }
}

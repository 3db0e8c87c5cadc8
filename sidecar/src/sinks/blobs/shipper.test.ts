import { createHash } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { silentLogger } from "@clawguard/shared/log";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, describe, expect, it } from "vitest";
import { BlobShipper } from "./shipper.ts";
import { BlobStore } from "./store.ts";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let tmp: ReturnType<typeof tempDir>;
let server: Server | undefined;
let shipper: BlobShipper | undefined;
afterEach(async () => {
  await shipper?.stop();
  server?.close();
  tmp.cleanup();
});

/** A collector that answers each blob request with `status(method)`, counting the requests. */
async function collector(status: (method: string) => number): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    req.on("end", () => res.writeHead(status(req.method ?? "")).end());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

describe("BlobShipper while the collector fails", () => {
  it("backs off: new content neither lists the store again nor asks the collector before the wait is over", async () => {
    tmp = tempDir("clawguard-blob-shipper-");
    let healthy = false;
    const { url, requests } = await collector((method) => (!healthy ? 503 : method === "HEAD" ? 404 : 201));
    const store = new BlobStore(join(tmp.path, "blobs"));
    const first = Buffer.from("first version");
    store.put(sha(first), first);
    shipper = new BlobShipper({
      url,
      token: "t",
      store,
      timeoutMs: 2000,
      backoffMinMs: 3000,
      backoffMaxMs: 3000,
      log: silentLogger,
    });
    await shipper.start();
    // Kicks from the start, while the first attempt is still in flight too.
    // A memory file written every 20 ms for 400 ms, each a new blob and a kick.
    for (let i = 0; i < 20; i++) {
      const next = Buffer.from(`version ${i}`);
      store.put(sha(next), next);
      shipper.kick();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(requests).toEqual([`HEAD /v1/blobs/${sha(first)}`]);
    // After the wait (1.5-3 s with jitter), everything waiting is shipped: nothing was lost.
    healthy = true;
    const deadline = Date.now() + 10_000;
    while (store.list().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(store.list()).toEqual([]);
    expect(requests.filter((r) => r.startsWith("PUT")).length).toBe(21);
  });
});

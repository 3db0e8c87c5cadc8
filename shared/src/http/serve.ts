import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";

export interface Listening {
  url: string;
  port: number;
  /**
   * Stops listening and closes idle connections at once; requests still in flight after `graceMs`
   * (default 2 s) have their connections cut. Resolves, once every connection is closed, with the
   * number of requests cut.
   */
  close(graceMs?: number): Promise<number>;
}

/** A handler that takes Node's request and response as they are; returns false to pass. */
export type RawHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * Serves a fetch handler on host:port (port 0 picks a free one); resolves once listening.
 * `raw` sees every request first: what must stream without the fetch API's copies (a proxy) is
 * served there.
 */
/** Far above what a sidecar's agent or a collector's fleet opens, far below a process's file descriptors. */
const MAX_CONNECTIONS = 4096;

export function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  host: string,
  port: number,
  raw?: RawHandler,
): Promise<Listening> {
  const listener = getRequestListener(fetch);
  return new Promise((resolve, reject) => {
    // Requests not yet answered: what a close cuts after its grace. A count and one listener for
    // all of them (a response closes once): no Set entry and no closure per request.
    let inFlight = 0;
    const answered = () => {
      inFlight--;
    };
    const server = createServer((req, res) => {
      inFlight++;
      res.on("close", answered);
      if (!raw?.(req, res)) void listener(req, res);
    });
    server.listen(port, host);
    server.keepAliveTimeout = 65_000;
    // Bounded: connections beyond this are closed at once (each holds a file descriptor; an agent
    // opening tens of thousands ran the process out of them), and a request's headers must come
    // within 20 s (Node's default waits a minute for a client that trickles them).
    server.maxConnections = MAX_CONNECTIONS;
    server.headersTimeout = 20_000;
    server.once("error", reject);
    server.once("listening", () => {
      server.off("error", reject);
      const address = server.address() as AddressInfo;
      const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
      let closed: Promise<number> | undefined;
      resolve({
        url: `http://${shown}:${address.port}`,
        port: address.port,
        close: (graceMs = 2000) => {
          closed ??= new Promise<number>((done) => {
            let cut = 0;
            const timer = setTimeout(() => {
              cut = inFlight;
              server.closeAllConnections();
            }, graceMs).unref();
            server.close(() => {
              clearTimeout(timer);
              done(cut);
            });
            server.closeIdleConnections();
          });
          return closed;
        },
      });
    });
  });
}

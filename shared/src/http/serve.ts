import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";

export interface Listening {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves a fetch handler on host:port (port 0 picks a free one); resolves once listening. */
export function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  host: string,
  port: number,
): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname: host, port }) as Server;
    server.keepAliveTimeout = 65_000;
    server.once("error", reject);
    server.once("listening", () => {
      server.off("error", reject);
      const address = server.address() as AddressInfo;
      const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
      let closed: Promise<void> | undefined;
      resolve({
        url: `http://${shown}:${address.port}`,
        port: address.port,
        close: () => {
          closed ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
            setTimeout(() => server.closeAllConnections(), 2000).unref();
          });
          return closed;
        },
      });
    });
  });
}

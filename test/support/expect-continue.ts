import { connect } from "node:net";

export interface ContinueExchange {
  /** The interim status before the body was sent (100), if the server sent one. */
  interim: number | undefined;
  /** The final status. */
  status: number;
  /** The final response's body. */
  body: string;
}

/**
 * Sends a request the way curl sends a big body: headers with `Expect: 100-continue` first, the body
 * only after the server's `100 Continue` (or after `waitMs` without one, as curl does). Raw socket:
 * what the exchange is, byte for byte, without a client library's handling in between.
 */
export function sendExpectingContinue(
  url: string,
  request: { method: string; path: string; headers: Record<string, string>; body: Buffer | string },
  waitMs = 1000,
): Promise<ContinueExchange> {
  const { hostname, port } = new URL(url);
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname.replace(/^\[|\]$/g, ""));
    let received = Buffer.alloc(0);
    let interim: number | undefined;
    let sent = false;
    const sendBody = () => {
      if (sent) return;
      sent = true;
      socket.write(body);
    };
    const timer = setTimeout(sendBody, waitMs);
    const overall = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no final answer within 15 s; got: ${received.toString("latin1").slice(0, 200)}`));
    }, 15_000);
    socket.on("connect", () => {
      const head = [
        `${request.method} ${request.path} HTTP/1.1`,
        `host: ${hostname}:${port}`,
        `content-length: ${body.length}`,
        "expect: 100-continue",
        "connection: close",
        ...Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`),
        "",
        "",
      ].join("\r\n");
      socket.write(head);
    });
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      const text = received.toString("latin1");
      const interimMatch = /^HTTP\/1\.1 (1\d\d)[^\r]*\r\n\r\n/.exec(text);
      if (interimMatch) {
        interim = Number(interimMatch[1]);
        received = received.subarray(interimMatch[0].length);
        clearTimeout(timer);
        sendBody();
      }
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      clearTimeout(overall);
      // A server may close after a final answer sent before the body (the body write then fails).
      if (received.length > 0) finish();
      else reject(err);
    });
    const finish = () => {
      clearTimeout(timer);
      clearTimeout(overall);
      const text = received.toString("utf8");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const split = text.indexOf("\r\n\r\n");
      resolve({ interim, status, body: split >= 0 ? text.slice(split + 4) : "" });
    };
    socket.on("end", finish);
  });
}

import { connect } from "node:net";

/** What one TCP connection attempt found: something accepts there, a failure (refused, no route), or no answer in time. */
export interface ConnectOutcome {
  open: boolean;
  error?: NodeJS.ErrnoException;
}

/**
 * Opens one TCP connection to host:port and closes it at once. `error` is set when the attempt
 * failed (refused, unreachable); neither open nor an error means no answer within `timeoutMs`.
 */
export function connectOnce(
  host: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const onAbort = () => finish({ open: false, error: signal?.reason });
    const finish = (outcome: ConnectOutcome) => {
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(outcome);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.setTimeout(timeoutMs, () => finish({ open: false }));
    socket.once("connect", () => finish({ open: true }));
    socket.once("error", (error: NodeJS.ErrnoException) => finish({ open: false, error }));
  });
}

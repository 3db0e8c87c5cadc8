import { readFileSync } from "node:fs";

/**
 * From the first signal to the process's exit, at most: what has not stopped by then is cut off.
 * The components get STOP_DEADLINE_MS (lifecycle) of it; the rest is the margin to exit.
 */
export const EXIT_DEADLINE_MS = 1_900;

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const EXIT_CODES: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/**
 * Whether the parent is a shell script that runs node without `exec`, as the npm `node` package's
 * `node_modules/.bin/node` is: a signal to it never reaches this process, which would keep its
 * port and its locks after the parent was stopped.
 */
function parentIsNodeShim(ppid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${ppid}/cmdline`, "utf8").split("\0");
    return /(^|\/)(sh|bash|dash)$/.test(argv[0] ?? "") && /node_modules\/\.bin\/node$/.test(argv[1] ?? "");
  } catch {
    return false;
  }
}

/**
 * Resolves on the first SIGINT, SIGTERM or SIGHUP, or when a parent that does not pass signals on
 * (the npm node shim) is gone. From then on the process exits within EXIT_DEADLINE_MS whatever is
 * still running (`onLate` says so first), and a second signal exits at once. Call it before
 * starting: a signal during the start then stops what started instead of killing the process
 * midway (and as pid 1 in a container, an unhandled SIGTERM would be ignored).
 */
export function untilSignal(onLate: (message: string) => void = () => {}): Promise<string> {
  return new Promise((resolve) => {
    let watch: NodeJS.Timeout | undefined;
    const handlers = SIGNALS.map((s) => [s, () => first(s, EXIT_CODES[s] as number)] as const);
    const first = (reason: string, code: number) => {
      for (const [s, handler] of handlers) process.off(s, handler);
      clearInterval(watch);
      for (const s of SIGNALS) process.once(s, () => process.exit(EXIT_CODES[s]));
      setTimeout(() => {
        onLate(`not stopped within ${EXIT_DEADLINE_MS} ms of ${reason}: exiting anyway`);
        process.exit(code);
      }, EXIT_DEADLINE_MS).unref();
      resolve(reason);
    };
    for (const [s, handler] of handlers) process.once(s, handler);
    const ppid = process.ppid;
    if (parentIsNodeShim(ppid)) {
      watch = setInterval(() => {
        if (process.ppid !== ppid) first("the exit of the parent node_modules/.bin/node", 143);
      }, 250).unref();
    }
  });
}

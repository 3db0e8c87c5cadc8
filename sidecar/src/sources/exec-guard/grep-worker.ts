import { createReadStream } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { type LineScan, scanLines } from "./line-scan.ts";

/**
 * Runs one `--grep` in a worker thread, so a pattern that backtracks for minutes (`(a+)+$`) can be
 * stopped, and never blocks the sidecar's event loop. Reads the spill through the descriptor the
 * caller opened and checked (threads share descriptors); the caller closes it.
 */
const { fd, ...scan } = workerData as LineScan & { fd: number };
void scanLines(createReadStream("", { fd, autoClose: false, start: 0, encoding: "utf8" }), scan).then(
  (result) => parentPort?.postMessage(result),
);

/**
 * Test helper, run as a child process (as another user) by watcher.test.ts: a watcher on WATCH_WS
 * until it has caught up, printing each event as a JSON line, then "ready" and its log's warnings.
 */
import type { Logger } from "@clawguard/shared/log";
import { memoryWatchConfig } from "./watch-config.ts";
import { MemoryWatcher } from "./watcher.ts";

const warnings: unknown[] = [];
const log = {
  warn: (message: string, attrs?: unknown) => warnings.push({ message, attrs }),
  error: (message: string, attrs?: unknown) => warnings.push({ message, attrs, error: true }),
  info: () => {},
  debug: () => {},
  child: () => log,
} as unknown as Logger;
const watcher = new MemoryWatcher({
  workspace: process.env.WATCH_WS as string,
  config: memoryWatchConfig.parse({ settleMs: 50 }),
  source: { agent: "main", role: "agent", host: "test" },
  publish: async (drafts) => {
    for (const d of drafts) process.stdout.write(`${JSON.stringify(d.attrs)}\n`);
  },
  log,
});
await watcher.start();
await watcher.ready();
process.stdout.write(`ready ${watcher.watching} ${JSON.stringify(warnings)}\n`);
await watcher.stop();

import { startFakeProvider } from "../support/fake-provider.ts";

/**
 * The benchmark's provider, in its own process so it does not share a core with the load: the
 * test suite's fake, with a window too large to ever refuse. Prints its URL, runs until SIGTERM.
 */
const fake = await startFakeProvider({ contextWindow: { default: 10_000_000 } });
// Requests are recorded for the tests' assertions; a benchmark would only grow the list.
setInterval(() => {
  fake.requests.length = 0;
}, 1000).unref();
process.stdout.write(`${fake.url}\n`);
process.once("SIGTERM", () => void fake.close().then(() => process.exit(0)));

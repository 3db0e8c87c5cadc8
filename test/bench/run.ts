import { parseArgs } from "node:util";
import { benchExec } from "./exec.ts";
import { benchIngest } from "./ingest.ts";
import { type Figure, printTable } from "./report.ts";

const help = `Usage: pnpm bench [--only exec|ingest] [--runs N] [--events N] [--mb N]

Measures each figure beside an anchor in the same run and prints the ratio and its target:
  exec    clawguard exec on a command printing --mb MB (default 200) vs the shell redirecting the
          same command to a file: wall time ratio (target <= 1.15) and peak RSS (target <= 80 MB)
  ingest  POST /v1/events into PostgreSQL (validation and chain checks on) vs raw COPY of the same
          rows into a table of the same schema: rate ratio (target >= 0.3); --events N (default 50000)
Needs PostgreSQL for ingest (CLAWGUARD_TEST_PG, default postgres://postgres@127.0.0.1:5432/postgres)
and psql on the PATH. Progress goes to stderr, the table to stdout.`;

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    runs: { type: "string", default: "3" },
    events: { type: "string", default: "50000" },
    mb: { type: "string", default: "200" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(help);
  process.exit(0);
}
const positive = (name: string, value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`pnpm bench: --${name}: expected a positive integer, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
};
if (values.only !== undefined && values.only !== "exec" && values.only !== "ingest") {
  console.error(`pnpm bench: --only: expected exec or ingest, got ${JSON.stringify(values.only)}`);
  process.exit(2);
}
const runs = positive("runs", values.runs);
const figures: Figure[] = [];
if (values.only !== "ingest") figures.push(...(await benchExec({ runs, mb: positive("mb", values.mb) })));
if (values.only !== "exec")
  figures.push(...(await benchIngest({ events: positive("events", values.events) })));
printTable(figures);
process.exit(figures.every((f) => f.pass !== false) ? 0 : 1);

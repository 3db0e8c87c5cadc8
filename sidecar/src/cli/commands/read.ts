import { type Command, intFlag, parse } from "@clawguard/shared/cli/command";
import {
  DEFAULT_MAX_MATCHES,
  DEFAULT_READ_LIMIT,
  parseLineRange,
  type ReadMode,
  readSpill,
} from "../../sources/exec-guard/read.ts";
import { SpillStore } from "../../sources/exec-guard/spill.ts";
import { launcher } from "../launcher.ts";
import { loadContext } from "../load-context.ts";

const help = `Usage: clawguard read SPILL_ID [--offset N --limit N | --lines A:B] [--grep PATTERN]

Pages through the full output of a command that clawguard exec spilled. Secrets are redacted in
what is printed (the spill file itself stays raw), with the text around a page as context: a page
that starts inside a private key or cuts a token in two shows neither part; a hex dump of binary
output shows secret bytes as *. --grep matches lines as printed, redacted: it finds no part of a
secret, and counts none.

Options:
  --offset N         first byte to print (default 0)
  --limit N          bytes to print (default ${DEFAULT_READ_LIMIT}, at most 1 MiB)
  --lines A:B        lines A to B, 1-based and inclusive (A: for up to 10000 lines from A)
  --grep PATTERN     only lines matching the regular expression, with their numbers
                     (within --lines when both are given)
  --max-matches N    stop --grep after N matches (default ${DEFAULT_MAX_MATCHES})
  --config FILE      sidecar config (default: $CLAWGUARD_CONFIG or ./clawguard.yaml)
  -h, --help         this help`;

export const readCommand: Command = {
  name: "read",
  help,
  async run(args, io) {
    const { values, positionals } = parse("read", args, {
      offset: { type: "string" },
      limit: { type: "string" },
      lines: { type: "string" },
      grep: { type: "string" },
      "max-matches": { type: "string" },
      config: { type: "string" },
    });
    if (values.help) {
      io.out(`${help}\n`);
      return 0;
    }
    if (positionals.length !== 1) {
      io.err(
        "clawguard read: expected one SPILL_ID\nUsage: clawguard read SPILL_ID [--offset N --limit N | --lines A:B] [--grep PATTERN]\n",
      );
      return 2;
    }
    if (values.lines !== undefined && (values.offset !== undefined || values.limit !== undefined)) {
      io.err("clawguard read: give --lines or --offset/--limit, not both\n");
      return 2;
    }
    const config = (await loadContext()).agentSideConfig(values.config, io.env, io.cwd);
    const range = values.lines !== undefined ? parseLineRange(values.lines) : undefined;
    let mode: ReadMode;
    if (values.grep !== undefined) {
      mode = {
        kind: "grep",
        pattern: values.grep,
        maxMatches: intFlag("max-matches", values["max-matches"], 1) ?? DEFAULT_MAX_MATCHES,
        ...range,
      };
    } else if (range) {
      mode = { kind: "lines", ...range };
    } else {
      mode = {
        kind: "bytes",
        offset: intFlag("offset", values.offset) ?? 0,
        limit: intFlag("limit", values.limit, 1) ?? DEFAULT_READ_LIMIT,
      };
    }
    const page = await readSpill(new SpillStore(config.paths.spill), positionals[0] as string, mode, {
      command: `${launcher(io.env)} read`,
    });
    io.out(page.text);
    if (page.text.length > 0 && !page.text.endsWith("\n")) io.out("\n");
    io.err(`${page.footer}\n`);
    return 0;
  },
};

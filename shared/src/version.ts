// clawguard's version, as `--version` prints it and telemetry reports it (service.version). Kept equal
// to the packages' package.json version (version.test.ts); a constant, so the agent-side bundle has it.
export const VERSION = "0.1.0";

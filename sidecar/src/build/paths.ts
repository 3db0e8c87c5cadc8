import { fileURLToPath } from "node:url";

/** Where `pnpm build` puts the agent-side clawguard (and where the sidecar image has it). */
export const AGENT_BUNDLE = fileURLToPath(new URL("../../../dist/clawguard", import.meta.url));

export { configCommand } from "./command.ts";
export { type Change, diffConfigs, formatChanges } from "./diff.ts";
export { ConfigTreeError, formatProblem, type Problem } from "./errors.ts";
export { type AgentEntry, badAgentName, loadTree, ROLES, type Role, type Tree } from "./load.ts";
export { mergeLayer, Origins } from "./merge.ts";
export { formatJson, type Rendered, renderAgent, renderTree } from "./render.ts";
export { inlineSecret, isCredentialRef, maskSecrets } from "./secrets.ts";
export { SIDECAR_LLM, scanSecrets, validateRendered, validateTree } from "./validate.ts";

/**
 * The sidecar config loader (zod and YAML: most of the agent-side file), imported only when a
 * command needs it. The agent-side file's build swaps this module for one that imports the loader
 * from a chunk embedded in the file (`build/agent-bundle.ts`), so that a run with kept exec
 * settings neither parses nor compiles it.
 */
export const loadContext = () => import("./context.ts");

/**
 * The shell parser's code (tree-sitter and its bash grammar, ~2 MB with the WebAssembly), imported
 * only when a shell script has to be read: the agent-side file's build swaps this module for one
 * that imports it from a chunk embedded in the file, so a command without a script (or a run with
 * no policy) neither parses nor compiles it.
 */
export const loadParser = () => import("./tree-sitter.ts");

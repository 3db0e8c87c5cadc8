import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/**
 * The two WebAssembly files of the shell parser: tree-sitter's runtime and its bash grammar, read
 * from their packages. The agent-side file's build swaps this module for one that carries both
 * files inside the bundle (`build/agent-bundle.ts`): that file runs where no node_modules exists.
 */
export function grammarWasm(): { runtime: Uint8Array; bash: Uint8Array } {
  const require = createRequire(import.meta.url);
  return {
    runtime: readFileSync(require.resolve("web-tree-sitter/web-tree-sitter.wasm")),
    bash: readFileSync(require.resolve("tree-sitter-bash/tree-sitter-bash.wasm")),
  };
}

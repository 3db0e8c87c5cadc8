// undici's own files that sidecar/src/http-client.ts loads instead of its index (which has the types).
declare module "undici/lib/dispatcher/agent.js" {
  const Agent: typeof import("undici").Agent;
  export default Agent;
}
declare module "undici/lib/dispatcher/dispatcher.js" {
  const Dispatcher: typeof import("undici").Dispatcher;
  export default Dispatcher;
}
declare module "undici/lib/api/index.js" {
  const api: Pick<typeof import("undici"), "request" | "stream" | "pipeline" | "connect" | "upgrade">;
  export default api;
}
declare module "undici/lib/core/util.js" {
  const util: { parseURL(url: string | URL): URL };
  export default util;
}

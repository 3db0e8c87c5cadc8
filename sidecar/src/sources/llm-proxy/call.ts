import type { IncomingMessage, ServerResponse } from "node:http";
import type { Usage } from "./family.ts";
import type { Guarded } from "./guard.ts";
import type { Provider } from "./providers.ts";
import type { Route } from "./route.ts";
import type { CallFacts } from "./telemetry.ts";
import type { UpstreamBody } from "./upstream.ts";

/**
 * One record of a call's facts, passed from step to step (route, guard, dispatch, relay, finish):
 * each step reads what the ones before it found and adds its own. Nothing else about a call is
 * kept anywhere.
 */
export class Call {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly started = performance.now();
  readonly route: Route;
  readonly method: string;
  /** The provider's server (its upstream URL: only its host and port are read). */
  readonly server: URL;
  /** gen_ai.operation.name of the endpoint called: chat, embeddings... */
  readonly operation: string;
  guarded: Guarded | undefined;
  /** The body as sent (trimmed, when the guard trimmed it). */
  payload: Buffer;
  readonly usage: Usage = {};
  status: number | undefined;
  errorType: string | undefined;
  ttftMs: number | undefined;
  /** Sent again, trimmed harder, after the provider's own overflow answer. */
  retried = false;
  responseBytes = 0;
  /** The provider's answer in flight, stopped when the client goes away. */
  inFlight: UpstreamBody | undefined;
  clientGone = false;

  constructor(req: IncomingMessage, res: ServerResponse, route: Route, payload: Buffer) {
    this.req = req;
    this.res = res;
    this.route = route;
    this.method = req.method ?? "GET";
    this.server = route.provider.upstream;
    this.operation = route.operation;
    this.payload = payload;
  }

  get provider(): Provider {
    return this.route.provider;
  }

  /** The model of a call: as the guard read it, else as a POST body names it (embeddings...). */
  get model(): string | undefined {
    return this.guarded?.model ?? (this.method === "POST" ? modelNamedIn(this.payload) : undefined);
  }

  /** What the call's span starts with. */
  facts(): Pick<CallFacts, "providerId" | "operation" | "family" | "model" | "server"> {
    return {
      providerId: this.provider.id,
      operation: this.operation,
      family: this.provider.family,
      model: this.model,
      server: this.server,
    };
  }

  /** The client closed its connection: the provider's answer, if still coming, is stopped. */
  readonly onClose = (): void => {
    if (this.res.writableFinished) return;
    this.clientGone = true;
    this.inFlight?.destroy(new Error("the client went away"));
  };
}

/** The model a request body names in its first 64 KiB (no parse of a body that may be megabytes). */
function modelNamedIn(payload: Buffer): string | undefined {
  const head = payload.subarray(0, 64 * 1024).toString("utf8");
  const quoted = /"model"\s*:\s*"((?:[^"\\]|\\.){1,256})"/.exec(head)?.[1];
  if (quoted === undefined) return undefined;
  try {
    return JSON.parse(`"${quoted}"`) as string;
  } catch {
    return undefined;
  }
}

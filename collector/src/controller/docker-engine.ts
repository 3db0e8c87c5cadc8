import { ClawguardError } from "@clawguard/shared/errors";
import { Agent, request } from "undici";

/**
 * The newest Engine API version the actuator asks for. Like Docker's own clients it negotiates: the
 * Engine's `GET /_ping` names its newest (header API-Version) and the lower of the two prefixes every
 * path. 1.44 suits Docker 29 and later (which refuse anything below it); Debian 12's Engine 20.10
 * speaks 1.41 and gets 1.41. The calls used here (list, inspect, start, stop, restart) are the same
 * in all of them, down to MIN_DOCKER_API_VERSION.
 */
export const DOCKER_API_VERSION = "1.44";
export const MIN_DOCKER_API_VERSION = "1.25";

const versionNumber = (v: string): number => {
  const [major = "0", minor = "0"] = v.split(".");
  return Number(major) * 1000 + Number(minor);
};

/** The version to use with an Engine whose newest is `engine` (undefined: it did not say). */
export function negotiateVersion(engine: string | undefined): string {
  if (engine === undefined || !/^\d+\.\d+$/.test(engine)) return DOCKER_API_VERSION;
  return versionNumber(engine) < versionNumber(DOCKER_API_VERSION) ? engine : DOCKER_API_VERSION;
}

/** A container as a step addresses it: `ref` goes into the path; `hint` follows it in a 404's message. */
export interface Ref {
  ref: string;
  hint: string;
}

/** An Engine call's answer: 2xx or 304. */
export interface Answer {
  status: number;
  text: string;
}

/** The Docker Engine API over its unix socket: each call named (`what`) in its errors. */
export interface Engine {
  readonly socket: string;
  /** One call; 2xx and 304 are answered with the body, anything else throws (a 404 of `container` names it). */
  call(what: string, method: "GET" | "POST", path: string, container?: Ref): Promise<Answer>;
  close(): Promise<void>;
}

/** An Engine client: the API version negotiated at the first call (and again after a failure). */
export function dockerEngine(socket: string, timeoutMs: number): Engine {
  const dispatcher = new Agent({ connect: { socketPath: socket }, keepAliveTimeout: 10_000 });
  let version: string | undefined;
  const negotiate = async (): Promise<string> => {
    version ??= await engineVersion(dispatcher, socket, timeoutMs);
    return version;
  };
  return {
    socket,
    async call(what, method, path, container) {
      const details = { socket, ...(container ? { container: container.ref } : {}) };
      let answer: Answer;
      try {
        // The host is not used for a unix socket; the Engine ignores it.
        const url = `http://docker/v${await negotiate()}${path}`;
        const response = await request(url, { method, dispatcher, signal: AbortSignal.timeout(timeoutMs) });
        answer = { status: response.statusCode, text: await response.body.text() };
      } catch (err) {
        if (err instanceof ClawguardError) throw err;
        throw unreachable(what, socket, timeoutMs, err, details);
      }
      const { status } = answer;
      if ((status >= 200 && status < 300) || status === 304) return answer;
      throw refusal(what, answer, { ...details, status }, container);
    },
    close: () => dispatcher.close().catch(() => {}),
  };
}

/** One Engine call on one container, named `what` in its errors. */
export type Step = (what: string, c: Ref) => Promise<unknown>;

/** What can be done to one container; a stop that fences is confirmed by inspecting it afterwards. */
export interface ContainerSteps {
  restart: Step;
  start: Step;
  stop: Step;
  stopConfirmed: Step;
}

/** The steps, each waiting up to `t` seconds after SIGTERM before the Engine kills the container. */
export function containerSteps(engine: Engine, t: number): ContainerSteps {
  const path = (c: Ref, action: string) => `/containers/${encodeURIComponent(c.ref)}${action}`;
  const stop: Step = (what, c) => engine.call(what, "POST", path(c, `/stop?t=${t}`), c);
  return {
    restart: (what, c) => engine.call(what, "POST", path(c, `/restart?t=${t}`), c),
    start: (what, c) => engine.call(what, "POST", path(c, "/start"), c),
    stop,
    // Fencing must not rest on the Engine's word alone: stop, then look.
    stopConfirmed: async (what, c) => {
      await stop(what, c);
      let inspected: Answer;
      try {
        inspected = await engine.call(what, "GET", path(c, "/json"), c);
      } catch (err) {
        // A container removed on stop (--rm) is down too.
        if (err instanceof ClawguardError && err.details?.status === 404) return;
        throw err;
      }
      confirmStopped(what, engine.socket, c, inspected.text);
    },
  };
}

/** Throws unless an inspection shows the container stopped (State.Running false). */
function confirmStopped(what: string, socket: string, c: Ref, inspection: string): void {
  const state = parseJson(inspection) as { State?: { Running?: boolean; Status?: string } } | undefined;
  if (state?.State?.Running === false) return;
  throw new ClawguardError(
    "upstream.rejected",
    `${what}: the Engine accepted the stop but ` +
      (state?.State?.Running === true
        ? "the container is still running"
        : "its inspection does not show the container stopped") +
      ` (State.Running ${String(state?.State?.Running)}, State.Status ${JSON.stringify(state?.State?.Status ?? null)}): expected State.Running false`,
    { details: { socket, container: c.ref } },
  );
}

/** GET /_ping: the Engine's newest API version, negotiated down to ours; one too old is refused. */
async function engineVersion(dispatcher: Agent, socket: string, timeoutMs: number): Promise<string> {
  const response = await request("http://docker/_ping", {
    method: "GET",
    dispatcher,
    signal: AbortSignal.timeout(timeoutMs),
  });
  await response.body.text();
  const header = response.headers["api-version"];
  const engine = Array.isArray(header) ? header[0] : header;
  if (engine && versionNumber(engine) < versionNumber(MIN_DOCKER_API_VERSION)) {
    throw new ClawguardError(
      "upstream.rejected",
      `the Docker Engine at unix socket ${socket} speaks API ${engine}; expected ${MIN_DOCKER_API_VERSION} or newer (Docker 1.13 or newer)`,
      { details: { socket } },
    );
  }
  return negotiateVersion(engine);
}

/** No answer: the socket is not there (or not readable), or the Engine was too slow. Retryable. */
function unreachable(
  what: string,
  socket: string,
  timeoutMs: number,
  err: unknown,
  details: Record<string, unknown>,
): ClawguardError {
  const timedOut = (err as Error).name === "TimeoutError" || (err as Error).name === "AbortError";
  return new ClawguardError(
    "upstream.unavailable",
    timedOut
      ? `${what}: the Docker Engine at unix socket ${socket} did not answer within ${timeoutMs} ms`
      : `${what}: cannot reach the Docker Engine at unix socket ${socket} (${(err as Error).message}): ` +
          "expected the Engine's API socket there, mounted into this container and readable by this process",
    { cause: err, retryable: true, details },
  );
}

/** An answer other than 2xx/304: a 404 of a container names it; a 5xx is retryable. */
function refusal(
  what: string,
  { status, text }: Answer,
  details: Record<string, unknown>,
  container: Ref | undefined,
): ClawguardError {
  const message = engineMessage(text);
  if (status === 404 && container) {
    return new ClawguardError(
      "upstream.rejected",
      `${what}: no such container ${JSON.stringify(container.ref)}${container.hint}` +
        (message ? `: the Engine says "${message}"` : ""),
      { details },
    );
  }
  return new ClawguardError(
    status >= 500 ? "upstream.unavailable" : "upstream.rejected",
    `${what}: the Docker Engine answered HTTP ${status}: ${message || "(no message)"}`,
    { retryable: status >= 500, details },
  );
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The Engine's errors are `{"message": "..."}`; anything else is shown as it came, shortened. */
function engineMessage(text: string): string {
  const parsed = parseJson(text) as { message?: unknown } | undefined;
  if (typeof parsed?.message === "string") return parsed.message;
  return text.trim().slice(0, 300);
}

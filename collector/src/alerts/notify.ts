import { retryAfterMs } from "@clawguard/shared/http/retry-after";
import { replaceUnsafe } from "@clawguard/shared/text/unsafe-chars";
import { Agent, DecoratorHandler, type Dispatcher, request } from "undici";
import type { Severity } from "./rules.ts";

/** One notification: an alert that fires (again) or is resolved. */
export interface Notice {
  /** One notification (its retries and redeliveries keep it): a webhook's receiver drops one seen before. */
  id: string;
  status: "firing" | "resolved";
  alert: string;
  severity: Severity;
  agent: string;
  role: string;
  summary: string;
  startsAt: string;
  endsAt?: string | undefined;
  pageUrl?: string | undefined;
}

export interface Target {
  kind: "mattermost" | "webhook";
  /** Where it goes, without its secret part: for logs and audit events. */
  name: string;
  url: string;
  channel?: string | undefined;
}

const COLOURS: Record<Severity, string> = { P0: "#d0021b", P1: "#f5a623", P2: "#f8e71c" };
const RESOLVED = "#2e7d32";

/**
 * Mattermost's incoming-webhook message: text (shown in notifications) and one attachment with
 * the colour of the severity (green when resolved), fields, and a link to the fleet page.
 */
export function mattermostMessage(notice: Notice, channel?: string): Record<string, unknown> {
  const n = {
    ...notice,
    summary: inert(notice.summary),
    agent: inert(notice.agent),
    role: inert(notice.role),
  };
  const head = `${n.status === "firing" ? ":rotating_light: FIRING" : ":white_check_mark: RESOLVED"} ${n.severity} ${n.alert} on ${n.agent}`;
  return {
    username: "clawguard",
    ...(channel ? { channel } : {}),
    text: `**${head}**`,
    attachments: [
      {
        fallback: `${head}: ${n.summary}`,
        color: n.status === "firing" ? COLOURS[n.severity] : RESOLVED,
        title: n.summary,
        ...(n.pageUrl ? { title_link: n.pageUrl } : {}),
        fields: [
          { title: "Severity", value: n.severity, short: true },
          { title: "Agent", value: `${n.agent} (${n.role})`, short: true },
          { title: "Since", value: n.startsAt, short: true },
          ...(n.endsAt ? [{ title: "Resolved", value: n.endsAt, short: true }] : []),
        ],
      },
    ],
  };
}

/** What one delivery sends: to Mattermost a group's notices in one post, to a webhook one notice. */
export interface Post {
  /** The post's (a webhook's: its notice's id): its retries and redeliveries keep it. */
  id: string;
  notices: Notice[];
  /** Agents listed in a Mattermost post of several, before "+K more". */
  listMax: number;
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

/**
 * One Mattermost post for a group's notices (group.ts): a notice alone is mattermostMessage; several
 * make one head per status ("FIRING P1 llm_error_rate on 37 agents") and one attachment per status
 * listing `listMax` agents with their summaries, then "+K more".
 */
export function mattermostGroupMessage(
  notices: readonly Notice[],
  channel: string | undefined,
  listMax: number,
): Record<string, unknown> {
  const [first] = notices;
  if (notices.length === 1 && first) return mattermostMessage(first, channel);
  const heads: string[] = [];
  const attachments: Record<string, unknown>[] = [];
  for (const status of ["firing", "resolved"] as const) {
    const of = notices.filter((n) => n.status === status);
    const one = of[0];
    if (!one) continue;
    const on = of.length === 1 ? inert(one.agent) : plural(of.length, "agent");
    const head = `${status === "firing" ? ":rotating_light: FIRING" : ":white_check_mark: RESOLVED"} ${one.severity} ${one.alert} on ${on}`;
    heads.push(head);
    const lines = of
      .slice(0, listMax)
      .map((n) => `- ${inert(n.agent)} (${inert(n.role)}): ${inert(n.summary)}`);
    if (of.length > listMax) lines.push(`+${of.length - listMax} more`);
    attachments.push({
      fallback: head,
      color: status === "firing" ? COLOURS[one.severity] : RESOLVED,
      title: `${one.alert}: ${plural(of.length, "agent")} ${status}`,
      ...(one.pageUrl ? { title_link: one.pageUrl } : {}),
      text: lines.join("\n"),
    });
  }
  return {
    username: "clawguard",
    ...(channel ? { channel } : {}),
    text: `**${heads.join(" · ")}**`,
    attachments,
  };
}

/**
 * Text an agent wrote (a reason carries a gateway's 503 body), made inert for a chat channel: no
 * control, bidi or invisible character (text/unsafe-chars.ts: each becomes a space), no `@channel`/`@all`/`@here` or user mention (a zero-width space after
 * the `@`), no markdown link, image or emphasis (its brackets and marks backslash-escaped).
 */
export function inert(text: string): string {
  return defang(replaceUnsafe(text))
    .replace(/[\\`*_~[\]<>]/g, "\\$&")
    .replace(/@/g, "@\u200b");
}

/**
 * URLs made unclickable the way security reports write them (Mattermost autolinks a bare
 * `http://` or `www.` address, in a title or a notification's fallback too): the scheme
 * `http(s)`/`ftp` becomes `hxxp(s)`/`fxp` and every dot of its host `[.]`
 * (`http://evil.example/x` -> `hxxp://evil[.]example/x`), as does a `www.` host without a scheme.
 */
export function defang(text: string): string {
  return text.replace(/\b(?:(https?|ftp):\/\/([^\s/?#]*)|(www\.[^\s/?#]+))/gi, (_, scheme, host, www) =>
    scheme
      ? `${String(scheme).toLowerCase().replace("http", "hxxp").replace("ftp", "fxp")}://${String(host).replace(/\./g, "[.]")}`
      : String(www).replace(/\./g, "[.]"),
  );
}

/** A URL shown without its path and query (a Mattermost hook's key is its path). */
export const safeTarget = (url: string) => {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid URL)";
  }
};

export interface Delivery {
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
  /**
   * The notice was sent whole and no answer came (none in time, or the connection was closed
   * before one): it may not have been delivered, or may have been. Not tried again (see deliver).
   */
  unknown?: true;
  /** The answer's Retry-After (a 429 or 503), in ms. */
  retryAfterMs?: number;
}

export interface DeliveryOptions {
  /** Tries in all, while the target surely did not take the notice. */
  attempts?: number;
  backoffMs?: number;
  /** To connect. */
  connectTimeoutMs?: number;
  /** For the answer, once the notice is sent (a loaded Mattermost takes seconds to post). */
  answerTimeoutMs?: number;
  /** The longest wait a Retry-After gets (a longer one waits this long). */
  retryAfterMaxMs?: number;
  /** Waits between tries (tests record them instead of waiting). */
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_ANSWER_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRY_AFTER_MAX_MS = 30_000;

/** Notes whether the request's body was sent whole (undici's onRequestSent). */
class SentHandler extends DecoratorHandler {
  readonly #sent: () => void;
  constructor(handler: Dispatcher.DispatchHandler, sent: () => void) {
    super(handler);
    this.#sent = sent;
  }
  // Passed on as DecoratorHandler does at run time (its types leave the hook out).
  onRequestSent(): void {
    this.#sent();
    (DecoratorHandler.prototype as Pick<Dispatcher.DispatchHandler, "onRequestSent">).onRequestSent?.call(
      this,
    );
  }
}

const body = (target: Target, post: Post) =>
  JSON.stringify(
    target.kind === "mattermost"
      ? mattermostGroupMessage(post.notices, target.channel, post.listMax)
      : post.notices[0],
  );

/**
 * POSTs the post (to a webhook: its one notice). Tried again (backoff base, 2x, 4x) only while the target surely did not take
 * it: no connection, the body not sent whole, or an answer of 429 or 5xx (it said it did not post).
 * An answer's Retry-After (seconds or an HTTP-date) replaces the backoff, up to retryAfterMaxMs.
 * A 4xx other than 429 is final (the hook was deleted, the message refused).
 *
 * A notice sent whole and not answered (within answerTimeoutMs, or the connection closed before
 * an answer) is not sent again (`unknown`, "may not have been delivered"): a
 * slow Mattermost that answers late has posted it, and sending it again posted it twice (an
 * incoming webhook has no idempotency key). The duplicate is bounded to none at the price of a
 * notice lost by a target that took the whole body and then failed without a word: recorded
 * (alert.notified, unknown) and logged. A generic webhook carries the notice's `id` (and an
 * Idempotency-Key header): it is retried like a failure, and the receiver drops what it has seen.
 */
export async function deliver(target: Target, post: Post, options: DeliveryOptions = {}): Promise<Delivery> {
  const attempts = options.attempts ?? 4;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const payload = body(target, post);
  let last: Delivery = { ok: false, attempts: 0 };
  for (let i = 1; i <= attempts; i++) {
    const outcome = await attempt(target, post.id, payload, options);
    last = { ...outcome, attempts: i };
    if (outcome.ok || !retryable(target, outcome)) return last;
    if (i < attempts) await sleep(waitMs(outcome, i, options));
  }
  return last;
}

/** Before try i + 1: the answer's Retry-After (capped), else the backoff. */
function waitMs(outcome: Omit<Delivery, "attempts">, i: number, options: DeliveryOptions): number {
  if (outcome.retryAfterMs !== undefined)
    return Math.min(outcome.retryAfterMs, options.retryAfterMaxMs ?? DEFAULT_RETRY_AFTER_MAX_MS);
  return (options.backoffMs ?? 1000) * 2 ** (i - 1);
}

/** A failure worth another try: a webhook always (it dedupes by id), Mattermost only when not posted. */
function retryable(target: Target, d: Omit<Delivery, "attempts">): boolean {
  if (d.status !== undefined) return d.status === 429 || d.status >= 500;
  return target.kind === "webhook" || !d.unknown;
}

async function attempt(
  target: Target,
  id: string,
  payload: string,
  options: DeliveryOptions,
): Promise<Omit<Delivery, "attempts">> {
  let sent = false;
  const answerMs = options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
  const agent = new Agent({ connect: { timeout: options.connectTimeoutMs ?? 5000 } });
  const dispatcher = agent.compose(
    (dispatch) => (opts, handler) =>
      dispatch(
        opts,
        new SentHandler(handler, () => {
          sent = true;
        }),
      ),
  );
  try {
    const res = await request(target.url, {
      method: "POST",
      dispatcher,
      headers: {
        "content-type": "application/json",
        ...(target.kind === "webhook" ? { "idempotency-key": id } : {}),
      },
      body: payload,
      headersTimeout: answerMs,
      bodyTimeout: answerMs,
    });
    const text = await res.body.text().catch(() => "");
    if (res.statusCode < 300) return { ok: true, status: res.statusCode };
    const after =
      res.statusCode === 429 || res.statusCode === 503 ? retryAfterMs(res.headers["retry-after"]) : undefined;
    return {
      ok: false,
      status: res.statusCode,
      error: `HTTP ${res.statusCode}: ${text.slice(0, 200)}`,
      ...(after !== undefined ? { retryAfterMs: after } : {}),
    };
  } catch (err) {
    const message = (err as Error).message;
    if (!sent) return { ok: false, error: message };
    return {
      ok: false,
      unknown: true,
      error: `${unanswered(err, answerMs)}: it may not have been delivered`,
    };
  } finally {
    await agent.destroy().catch(() => {});
  }
}

const TIMEOUTS = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** Why a request sent whole got no answer: none in time, or the connection closed before one. */
function unanswered(err: unknown, answerMs: number): string {
  const { code, message } = err as { code?: string; message: string };
  return code !== undefined && TIMEOUTS.has(code)
    ? `sent, no answer within ${answerMs} ms (${message})`
    : `sent, the connection was closed before an answer (${message})`;
}

import { request } from "undici";
import type { Severity } from "./rules.ts";

/** One notification: an alert that fires (again) or is resolved. */
export interface Notice {
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

/**
 * Text an agent wrote (a reason carries a gateway's 503 body), made inert for a chat channel: no
 * control or bidi characters, no `@channel`/`@all`/`@here` or user mention (a zero-width space after
 * the `@`), no markdown link, image or emphasis (its brackets and marks backslash-escaped).
 */
export function inert(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
      .replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, " ")
      .replace(/[\\`*_~[\]<>]/g, "\\$&")
      .replace(/@/g, "@\u200b")
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
}

/**
 * POSTs the notice, retrying network errors, 429 and 5xx with exponential backoff (base, 2x, 4x);
 * a 4xx other than 429 is not retried (the hook was deleted, the message refused).
 */
export async function deliver(
  target: Target,
  notice: Notice,
  options: { attempts?: number; backoffMs?: number; timeoutMs?: number } = {},
): Promise<Delivery> {
  const attempts = options.attempts ?? 4;
  const body = JSON.stringify(
    target.kind === "mattermost" ? mattermostMessage(notice, target.channel) : notice,
  );
  let last: Delivery = { ok: false, attempts: 0 };
  for (let i = 1; i <= attempts; i++) {
    try {
      const res = await request(target.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        headersTimeout: options.timeoutMs ?? 5000,
        bodyTimeout: options.timeoutMs ?? 5000,
      });
      const text = await res.body.text();
      if (res.statusCode < 300) return { ok: true, attempts: i, status: res.statusCode };
      last = {
        ok: false,
        attempts: i,
        status: res.statusCode,
        error: `HTTP ${res.statusCode}: ${text.slice(0, 200)}`,
      };
      if (res.statusCode !== 429 && res.statusCode < 500) return last;
    } catch (err) {
      last = { ok: false, attempts: i, error: (err as Error).message };
    }
    if (i < attempts) await new Promise((r) => setTimeout(r, (options.backoffMs ?? 1000) * 2 ** (i - 1)));
  }
  return last;
}

import {
  asRecord,
  contentText,
  currentTurnStart,
  type Family,
  firstNumber,
  readConversation,
  type ToolResult,
  type Usage,
} from "./family.ts";

const CONTEXT_FIELDS = ["system", "tools", "tool_choice"];

export function anthropicError(status: number, type: string, message: string) {
  return { status, body: { type: "error", error: { type, message } } };
}

/**
 * Anthropic Messages. The stable prefix is the system prompt, the tools and every message up to
 * the last `cache_control` breakpoint before the current turn: the provider caches exactly that.
 * A user message holding tool results belongs to the assistant message before it.
 */
export const anthropicMessages: Family = {
  api: "anthropic-messages",
  providerName: "anthropic",

  isGeneration: (method, path) => method === "POST" && /(^|\/)messages$/.test(path),

  conversation: (body, text, counter) =>
    readConversation(body, text, counter, {
      key: "messages",
      contextFields: CONTEXT_FIELDS,
      overheadTokens: 3,
      shape(value, previous, last) {
        const holdsResults = holdsToolResults(value);
        return {
          cutBefore: !holdsResults,
          startsTurn:
            asRecord(value)?.role === "user" && !holdsResults && !(last && holdsToolResults(previous)),
          ...(holdsResults ? { toolResults: toolResultsIn(value) } : {}),
        };
      },
      prefixCount(items, values) {
        // The current turn is always kept, so a breakpoint inside it (OpenClaw marks the newest
        // tool result) does not pin the history before it.
        const lastTurn = currentTurnStart(items);
        let prefix = 0;
        for (let i = 0; i < lastTurn; i++)
          if (JSON.stringify(values[i]).includes('"cache_control"')) prefix = i + 1;
        return prefix;
      },
    }),

  outputReserve: (body) => firstNumber(body.max_tokens),

  marker(note, next) {
    const n = asRecord(next?.value);
    if (
      next &&
      n?.role === "user" &&
      next.cutBefore &&
      (typeof n.content === "string" || Array.isArray(n.content))
    ) {
      const rest = typeof n.content === "string" ? [{ type: "text", text: n.content }] : n.content;
      return {
        json: JSON.stringify({ ...n, content: [{ type: "text", text: note }, ...rest] }),
        mergesNext: true,
      };
    }
    return { json: JSON.stringify({ role: "user", content: note }), mergesNext: false };
  },

  overflowError: (limit, prompt, reserve) =>
    anthropicError(
      400,
      "invalid_request_error",
      prompt > limit
        ? `prompt is too long: ${prompt} tokens > ${limit} maximum`
        : `input length and \`max_tokens\` exceed context limit: ${prompt} + ${reserve} > ${limit}, decrease input length or \`max_tokens\` and try again`,
    ),

  parseOverflow(status, body) {
    if (status !== 400 && status !== 413) return undefined;
    const match = /prompt is too long: (\d+) tokens > (\d+) maximum/.exec(body);
    if (match) return { requested: Number(match[1]), prompt: Number(match[1]), limit: Number(match[2]) };
    // The prompt fits but not with the output reserve: "P + M > W".
    const withReserve = /exceed context limit: (\d+) \+ (\d+) > (\d+)/.exec(body);
    if (withReserve)
      return {
        requested: Number(withReserve[1]) + Number(withReserve[2]),
        prompt: Number(withReserve[1]),
        limit: Number(withReserve[3]),
      };
    return /prompt is too long|request_too_large/.test(body) ? {} : undefined;
  },

  error: (status, message) =>
    anthropicError(
      status,
      status === 413 ? "request_too_large" : status >= 500 ? "api_error" : "invalid_request_error",
      message,
    ),

  usageFromJson(body, usage) {
    messageUsage(asRecord(body), usage);
  },

  usageFromEvent(data, usage) {
    const event = asRecord(data);
    if (event?.type === "message_start") messageUsage(asRecord(event.message), usage);
    else if (event?.type === "message_delta") {
      const reason = asRecord(event.delta)?.stop_reason;
      if (typeof reason === "string") usage.finishReasons = [reason];
      usage.outputTokens = firstNumber(asRecord(event.usage)?.output_tokens) ?? usage.outputTokens;
    }
  },
};

function holdsToolResults(message: unknown): boolean {
  const content = asRecord(message)?.content;
  return Array.isArray(content) && content.some((b) => asRecord(b)?.type === "tool_result");
}

/** Each tool_result block of a user message with text content, replaceable on its own. */
function toolResultsIn(message: unknown): ToolResult[] {
  const blocks = asRecord(message)?.content as unknown[];
  const results: ToolResult[] = [];
  blocks.forEach((block, j) => {
    const b = asRecord(block);
    const text = b?.type === "tool_result" ? contentText(b.content) : undefined;
    if (text === undefined) return;
    results.push({
      text,
      replace: (v, replacement) => {
        const m = v as Record<string, unknown>;
        const content = [...(m.content as unknown[])];
        content[j] = { ...(content[j] as Record<string, unknown>), content: replacement };
        return { ...m, content };
      },
    });
  });
  return results;
}

function messageUsage(body: Record<string, unknown> | undefined, usage: Usage): void {
  if (!body) return;
  if (typeof body.model === "string") usage.responseModel = body.model;
  if (typeof body.id === "string") usage.responseId = body.id;
  if (typeof body.stop_reason === "string") usage.finishReasons = [body.stop_reason];
  const u = asRecord(body.usage);
  if (!u) return;
  usage.outputTokens = firstNumber(u.output_tokens) ?? usage.outputTokens;
  usage.cacheReadTokens = firstNumber(u.cache_read_input_tokens) ?? usage.cacheReadTokens;
  usage.cacheWriteTokens = firstNumber(u.cache_creation_input_tokens) ?? usage.cacheWriteTokens;
  const input = firstNumber(u.input_tokens);
  // Anthropic's input_tokens leaves out the cached part; the GenAI conventions count all of it.
  if (input !== undefined)
    usage.inputTokens = input + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0);
}

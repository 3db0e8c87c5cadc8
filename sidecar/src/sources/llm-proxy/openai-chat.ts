import {
  asRecord,
  type Counter,
  contentText,
  type Family,
  firstNumber,
  type Item,
  itemTokens,
  type Usage,
  valueTokens,
} from "./family.ts";
import { arrayElements, objectMembers, rootSpan } from "./json-layout.ts";

/** Top-level request fields that go into the model's context besides the messages. */
const CONTEXT_FIELDS = ["tools", "functions", "tool_choice", "response_format"];
/** Every reply is primed with `<|start|>assistant<|message|>`. */
const REPLY_PRIMING = 3;

/** OpenAI's overflow message, whose wording clients (OpenClaw among them) match on. */
export function openAiOverflowMessage(limit: number, requested: number): string {
  return `This model's maximum context length is ${limit} tokens. However, your messages resulted in ${requested} tokens. Please reduce the length of the messages.`;
}

export function openAiError(
  status: number,
  message: string,
  type: string,
  code: string | null,
  param: string | null,
) {
  return { status, body: { error: { message, type, param, code } } };
}

export function openAiErrorType(status: number): string {
  return status >= 500 ? "server_error" : "invalid_request_error";
}

/**
 * OpenAI's overflow errors: the classic chat wording ("maximum context length is N tokens ...
 * resulted in M" or "you requested M"), newer models' "Input tokens exceed the configured limit of
 * N tokens", and the Responses API's wording, which has the code alone.
 */
export function parseOpenAiOverflow(
  status: number,
  body: string,
): { limit?: number; requested?: number } | undefined {
  if (status !== 400 && status !== 200) return undefined;
  if (!/context_length_exceeded|maximum context length|exceed the configured limit/.test(body))
    return undefined;
  const limit = /(?:maximum context length is|configured limit of) (\d+)/.exec(body)?.[1];
  const requested = /(?:resulted in|requested) (\d+) tokens/.exec(body)?.[1];
  return {
    ...(limit ? { limit: Number(limit) } : {}),
    ...(requested ? { requested: Number(requested) } : {}),
  };
}

export const openAiChat: Family = {
  api: "openai-completions",
  providerName: "openai",

  isGeneration: (method, path) => method === "POST" && /(^|\/)chat\/completions$/.test(path),

  conversation(body, text, counter) {
    const messages = body.messages;
    if (!Array.isArray(messages)) return undefined;
    const span = objectMembers(text, rootSpan(text)).get("messages");
    if (!span) return undefined;
    const spans = arrayElements(text, span);
    const items: Item[] = messages.map((value, i) =>
      chatItem(value, messages[i - 1], spans[i] ?? span, counter),
    );
    let prefixCount = 0;
    while (prefixCount < messages.length && isInstruction(messages[prefixCount])) prefixCount++;
    let fixedTokens = REPLY_PRIMING;
    for (const field of CONTEXT_FIELDS) if (field in body) fixedTokens += valueTokens(body[field], counter);
    return { span, items, prefixCount, fixedTokens };
  },

  outputReserve: (body) => firstNumber(body.max_completion_tokens, body.max_tokens),

  marker: (note) => ({ json: JSON.stringify({ role: "user", content: note }), mergesNext: false }),

  overflowError: (_model, limit, requested) =>
    openAiError(
      400,
      openAiOverflowMessage(limit, requested),
      "invalid_request_error",
      "context_length_exceeded",
      "messages",
    ),

  parseOverflow: parseOpenAiOverflow,

  error: (status, message) => openAiError(status, message, openAiErrorType(status), null, null),

  usageFromJson(body) {
    const usage: Usage = {};
    chatUsage(asRecord(body), usage);
    return usage;
  },

  usageFromEvent(data, usage) {
    chatUsage(asRecord(data), usage);
  },
};

function isInstruction(message: unknown): boolean {
  const role = asRecord(message)?.role;
  return role === "system" || role === "developer";
}

/** `previousIfLast`: the message before this one, when this one is the last (see Item.startsTurn). */
function chatItem(value: unknown, previousIfLast: unknown, span: Item["span"], counter: Counter): Item {
  const m = asRecord(value);
  const item: Item = {
    span,
    value,
    tokens: itemTokens(value, counter),
    cutBefore: m?.role !== "tool",
    startsTurn: m?.role === "user" && asRecord(previousIfLast)?.role !== "tool",
  };
  const text = m?.role === "tool" ? contentText(m.content) : undefined;
  if (text !== undefined) {
    item.toolResults = [
      { text, replace: (v, replacement) => ({ ...(v as Record<string, unknown>), content: replacement }) },
    ];
  }
  return item;
}

/** Usage from a whole response or one stream chunk (the last chunk carries it, when asked for). */
function chatUsage(body: Record<string, unknown> | undefined, usage: Usage): void {
  if (!body) return;
  if (typeof body.model === "string") usage.responseModel = body.model;
  if (typeof body.id === "string") usage.responseId = body.id;
  if (Array.isArray(body.choices)) {
    for (const choice of body.choices) {
      const reason = asRecord(choice)?.finish_reason;
      if (typeof reason === "string") usage.finishReasons = [...(usage.finishReasons ?? []), reason];
    }
  }
  const u = asRecord(body.usage);
  if (!u) return;
  usage.inputTokens = firstNumber(u.prompt_tokens) ?? usage.inputTokens;
  usage.outputTokens = firstNumber(u.completion_tokens) ?? usage.outputTokens;
  usage.cacheReadTokens =
    firstNumber(asRecord(u.prompt_tokens_details)?.cached_tokens) ?? usage.cacheReadTokens;
}

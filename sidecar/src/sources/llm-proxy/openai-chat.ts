import {
  asRecord,
  type Family,
  firstNumber,
  leadingInstructions,
  type Overflow,
  outputIn,
  readConversation,
  type Usage,
} from "./family.ts";

/** Top-level request fields that go into the model's context besides the messages. */
const CONTEXT_FIELDS = ["tools", "functions", "tool_choice", "response_format"];
/** Every reply is primed with `<|start|>assistant<|message|>`. */
const REPLY_PRIMING = 3;

/** OpenAI's overflow message, whose wording clients (OpenClaw among them) match on. */
function openAiOverflowMessage(limit: number, prompt: number, reserve: number): string {
  return prompt > limit
    ? `This model's maximum context length is ${limit} tokens. However, your messages resulted in ${prompt} tokens. Please reduce the length of the messages.`
    : `This model's maximum context length is ${limit} tokens. However, you requested ${prompt + reserve} tokens (${prompt} in the messages, ${reserve} in the completion). Please reduce the length of the messages or completion.`;
}

function openAiError(
  status: number,
  message: string,
  type: string,
  code: string | null,
  param: string | null,
) {
  return { status, body: { error: { message, type, param, code } } };
}

function openAiErrorType(status: number): string {
  return status >= 500 ? "server_error" : "invalid_request_error";
}

/**
 * OpenAI's overflow errors: the classic chat wording ("maximum context length is N tokens ...
 * resulted in M" or "you requested M"), newer models' "Input tokens exceed the configured limit of
 * N tokens", and the Responses API's wording, which has the code alone.
 */
function parseOpenAiOverflow(status: number, body: string): Overflow | undefined {
  if (status !== 400 && status !== 200) return undefined;
  if (!/context_length_exceeded|maximum context length|exceed the configured limit/.test(body))
    return undefined;
  const limit = /(?:maximum context length is|configured limit of) (\d+)/.exec(body)?.[1];
  const requested = /(?:resulted in|requested) (\d+) tokens/.exec(body)?.[1];
  const prompt = /\((\d+) in the messages/.exec(body)?.[1];
  return {
    ...(limit ? { limit: Number(limit) } : {}),
    ...(requested ? { requested: Number(requested) } : {}),
    ...(prompt ? { prompt: Number(prompt) } : {}),
  };
}

/** What both OpenAI APIs share: the note item, and their error shapes (`param` names the array). */
export function openAiShared(param: "messages" | "input") {
  return {
    marker: (note: string) => ({ json: JSON.stringify({ role: "user", content: note }), mergesNext: false }),
    overflowError: (limit: number, prompt: number, reserve: number) =>
      openAiError(
        400,
        openAiOverflowMessage(limit, prompt, reserve),
        "invalid_request_error",
        "context_length_exceeded",
        param,
      ),
    parseOverflow: parseOpenAiOverflow,
    error: (status: number, message: string) =>
      openAiError(status, message, openAiErrorType(status), null, null),
  };
}

export const openAiChat: Family = {
  api: "openai-completions",
  providerName: "openai",

  isGeneration: (method, path) => method === "POST" && /(^|\/)chat\/completions$/.test(path),

  conversation: (body, text, counter) =>
    readConversation(body, text, counter, {
      key: "messages",
      contextFields: CONTEXT_FIELDS,
      overheadTokens: REPLY_PRIMING,
      shape(value, previous, last) {
        const role = asRecord(value)?.role;
        return {
          cutBefore: role !== "tool",
          startsTurn: role === "user" && !(last && asRecord(previous)?.role === "tool"),
          ...(role === "tool" ? { toolResults: outputIn(value, "content") } : {}),
        };
      },
      prefixCount: (_items, values) => leadingInstructions(values),
    }),

  outputReserve: (body) => firstNumber(body.max_completion_tokens, body.max_tokens),

  ...openAiShared("messages"),

  usageFromJson(body, usage) {
    chatUsage(asRecord(body), usage);
  },

  usageFromEvent(data, usage) {
    chatUsage(asRecord(data), usage);
  },
};

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

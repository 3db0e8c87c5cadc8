import {
  asRecord,
  contentText,
  type Family,
  firstNumber,
  type Item,
  itemTokens,
  type Usage,
  valueTokens,
} from "./family.ts";
import { arrayElements, objectMembers, rootSpan } from "./json-layout.ts";
import { openAiError, openAiErrorType, openAiOverflowMessage, parseOpenAiOverflow } from "./openai-chat.ts";

const CONTEXT_FIELDS = ["instructions", "tools", "tool_choice", "text"];

/**
 * OpenAI Responses: `input` is a string or a list of items (messages, function calls, their
 * outputs, reasoning). An output follows its call, and a call follows the reasoning that made it:
 * no cut falls inside such a chain.
 */
export const openAiResponses: Family = {
  api: "openai-responses",
  providerName: "openai",

  isGeneration: (method, path) => method === "POST" && /(^|\/)responses$/.test(path),

  conversation(body, text, counter) {
    const input = body.input;
    if (!Array.isArray(input)) return undefined;
    const span = objectMembers(text, rootSpan(text)).get("input");
    if (!span) return undefined;
    const spans = arrayElements(text, span);
    const items: Item[] = input.map((value, i) => {
      const v = asRecord(value);
      const previous = asRecord(input[i - 1]);
      const item: Item = {
        span: spans[i] ?? span,
        value,
        tokens: itemTokens(value, counter),
        cutBefore: v?.type !== "function_call_output" && previous?.type !== "reasoning",
        startsTurn:
          v?.role === "user" && !(i === input.length - 1 && previous?.type === "function_call_output"),
      };
      const output = v?.type === "function_call_output" ? contentText(v.output) : undefined;
      if (output !== undefined) {
        item.toolResults = [
          {
            text: output,
            replace: (o, replacement) => ({ ...(o as Record<string, unknown>), output: replacement }),
          },
        ];
      }
      return item;
    });
    let prefixCount = 0;
    while (prefixCount < input.length && isInstruction(input[prefixCount])) prefixCount++;
    let fixedTokens = 3;
    for (const field of CONTEXT_FIELDS) if (field in body) fixedTokens += valueTokens(body[field], counter);
    return { span, items, prefixCount, fixedTokens };
  },

  outputReserve: (body) => firstNumber(body.max_output_tokens),

  marker: (note) => ({ json: JSON.stringify({ role: "user", content: note }), mergesNext: false }),

  overflowError: (_model, limit, requested) =>
    openAiError(
      400,
      openAiOverflowMessage(limit, requested),
      "invalid_request_error",
      "context_length_exceeded",
      "input",
    ),

  parseOverflow: parseOpenAiOverflow,

  error: (status, message) => openAiError(status, message, openAiErrorType(status), null, null),

  usageFromJson(body) {
    const usage: Usage = {};
    responseUsage(asRecord(body), usage);
    return usage;
  },

  usageFromEvent(data, usage) {
    // response.created / response.completed / response.incomplete / response.failed carry the response.
    responseUsage(asRecord(asRecord(data)?.response), usage);
  },
};

function isInstruction(item: unknown): boolean {
  const role = asRecord(item)?.role;
  return role === "system" || role === "developer";
}

function responseUsage(body: Record<string, unknown> | undefined, usage: Usage): void {
  if (!body) return;
  if (typeof body.model === "string") usage.responseModel = body.model;
  if (typeof body.id === "string") usage.responseId = body.id;
  if (typeof body.status === "string" && body.status !== "in_progress") {
    const reason = asRecord(body.incomplete_details)?.reason;
    usage.finishReasons = [typeof reason === "string" ? reason : body.status];
  }
  const u = asRecord(body.usage);
  if (!u) return;
  usage.inputTokens = firstNumber(u.input_tokens) ?? usage.inputTokens;
  usage.outputTokens = firstNumber(u.output_tokens) ?? usage.outputTokens;
  usage.cacheReadTokens =
    firstNumber(asRecord(u.input_tokens_details)?.cached_tokens) ?? usage.cacheReadTokens;
}

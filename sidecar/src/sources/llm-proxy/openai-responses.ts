import {
  asRecord,
  type Family,
  firstNumber,
  leadingInstructions,
  outputIn,
  readConversation,
  type Usage,
} from "./family.ts";
import { openAiShared } from "./openai-chat.ts";

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

  conversation: (body, text, counter) =>
    readConversation(body, text, counter, {
      key: "input",
      contextFields: CONTEXT_FIELDS,
      overheadTokens: 3,
      shape(value, previous, last) {
        const v = asRecord(value);
        const before = asRecord(previous)?.type;
        return {
          cutBefore: v?.type !== "function_call_output" && before !== "reasoning",
          startsTurn: v?.role === "user" && !(last && before === "function_call_output"),
          ...(v?.type === "function_call_output" ? { toolResults: outputIn(value, "output") } : {}),
        };
      },
      prefixCount: (_items, values) => leadingInstructions(values),
    }),

  outputReserve: (body) => firstNumber(body.max_output_tokens),

  ...openAiShared("input"),

  usageFromJson(body, usage) {
    responseUsage(asRecord(body), usage);
  },

  usageFromEvent(data, usage) {
    // response.created / response.completed / response.incomplete / response.failed carry the response.
    responseUsage(asRecord(asRecord(data)?.response), usage);
  },
};

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

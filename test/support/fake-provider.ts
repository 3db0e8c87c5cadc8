import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Test-only: a local stand-in for an LLM provider speaking OpenAI Chat Completions, OpenAI Responses and
 * Anthropic Messages with the providers' own success, stream and error shapes, so that the real SDKs (and
 * the proxy under test) cannot tell it from the real thing. Each shape names where it was taken from.
 *
 * Prompt size, as a provider counts it (the text, not its JSON): the tokens of every string in the
 * context fields the request has, plus 3 per message or item for the chat template:
 * Chat `messages`, `tools`, `functions`; Responses `instructions`, `input`, `tools`; Messages `system`,
 * `messages`, `tools`. Output reserve: Chat `max_completion_tokens` ?? `max_tokens`; Responses
 * `max_output_tokens`; Messages `max_tokens`. Prompt + reserve over the model's window gets that API's
 * overflow error; otherwise the answer is "ok <prompt> tokens" with usage input = prompt, cached = 0.
 *
 * To drive an agent, `script()` queues answers: a tool call or a text, taken first in, first out by the
 * generation requests that offer tools. Requests without tools (an agent's compaction or summary calls) get
 * the plain answer and leave the queue alone, and so does a request that gets an error.
 */

export const FAKE_MODES = [
  "normal", // answers as the provider would
  "unauthorized", // 401 whatever the key
  "forbidden", // the provider's own 403 (JSON)
  "proxy-forbidden", // a 403 HTML page from an intermediary (Squid), as if the provider were never reached
  "rate-limited", // 429 with retry-after
  "server-error", // 500
  "overloaded", // Anthropic 529, OpenAI 503
  "malformed", // 200 whose body is not JSON
  "overflow-once", // the next generation request gets the overflow error whatever its size, then "normal"
  // Transport faults, on generation requests only (other requests answer as in "normal"):
  "reset-before-headers", // the connection destroyed once the request is read, before any byte of an answer
  "stall-before-headers", // the request read, then nothing until the client leaves or close()
  "cut-mid-body", // headers and the first part (a stream: CUT_AFTER_EVENTS events; a whole body: half of it, under its full content-length), then the connection destroyed
  "stall-mid-body", // a stream's first CUT_AFTER_EVENTS events, then nothing until the client leaves or close()
  "malformed-stream", // a stream with a line that is no SSE field and an event cut mid-JSON after its 3rd event, then the rest as normal
] as const;
export type FakeMode = (typeof FAKE_MODES)[number];

/** How many stream events "cut-mid-body" and "stall-mid-body" send before they fail. */
const CUT_AFTER_EVENTS = 3;

export type FakeApi = "chat" | "responses" | "messages";

export interface FakeProviderOptions {
  /** Context window by model name; `default` for any other model. Default `{ default: 128000 }`. */
  contextWindow?: { readonly default: number; readonly [model: string]: number };
  /** Tokens of one text. Default: ceil(UTF-8 bytes / 4). */
  countTokens?: (text: string) => number;
  /** Keys accepted (`Authorization: Bearer`, or Anthropic's `x-api-key`). Default `["test-key"]`. */
  apiKeys?: readonly string[];
  /** Delay before the first byte of every answer. */
  latencyMs?: number;
  /** Delay between stream events. */
  chunkDelayMs?: number;
  /** Port to listen on (127.0.0.1); default 0, any free one. A provider restarted on its old port. */
  port?: number;
}

/**
 * A scripted answer. `toolCall` answers with a call of that tool (in each API's own shape, `finish_reason:
 * "tool_calls"` or `stop_reason: "tool_use"`); `text` with that text, or with what the function makes of the
 * request (e.g. from `toolResultsOf(request)`, to say what the model was shown).
 */
export type ScriptedReply =
  | { toolCall: { name: string; arguments: Record<string, unknown>; id?: string } }
  | { text: string | ((request: RecordedRequest) => string) };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body exactly as received. */
  body: Buffer;
  /** The body parsed, when it was JSON. */
  json: unknown;
  api: FakeApi | undefined;
  /** The prompt size counted (generation requests with a JSON object body only). */
  promptTokens: number | undefined;
  /** Whether the answer was a context-overflow error. */
  tooLong: boolean;
  /** The scripted reply this request was answered with, when it took one off the queue. */
  scripted: ScriptedReply | undefined;
  /** The response body as written so far, piece by piece (a cut or stalled answer: what went out). */
  sent: Buffer[];
  /**
   * When the response closed (`performance.now()`) and whether it was sent whole: false when a fault,
   * the client leaving or close() cut it short.
   */
  ended: Promise<{ at: number; finished: boolean }>;
}

export interface FakeProvider {
  /** `http://127.0.0.1:<port>`: the OpenAI base URL is `${url}/v1`, the Anthropic one is `url`. */
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  setMode(mode: FakeMode): void;
  /** Replaces the queue of scripted replies (an empty list clears it). */
  script(replies: readonly ScriptedReply[]): void;
  /** How many scripted replies are still queued. */
  readonly scriptLeft: number;
  /** Client connections open right now (idle keep-alive ones included). */
  readonly openConnections: number;
  /** Stops listening and destroys every connection, mid-answer or not. */
  close(): Promise<void>;
}

/** A generation request as read: what the answer depends on. */
interface Ask {
  api: FakeApi;
  body: Json;
  model: string;
  stream: boolean;
  prompt: number;
  /** The output tokens reserved (max_tokens and its kin), when given. */
  reserve: number | undefined;
  window: number;
  rid: string;
}

/** One answer: a whole body, or SSE events written `chunkDelayMs` apart. */
interface Reply {
  status: number;
  body: string | string[];
  headers?: Record<string, string>;
  tooLong?: boolean;
  /** Sent by an intermediary, not the provider: no provider headers (request id) added. */
  intermediary?: boolean;
}

type Dialect = "openai" | "anthropic";
type Json = Record<string, unknown>;

const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const RETRY_AFTER_S = "1";

const CONTEXT_FIELDS: Record<FakeApi, readonly string[]> = {
  chat: ["messages", "tools", "functions"],
  responses: ["instructions", "input", "tools"],
  messages: ["system", "messages", "tools"],
};
const RESERVE_FIELDS: Record<FakeApi, readonly string[]> = {
  chat: ["max_completion_tokens", "max_tokens"],
  responses: ["max_output_tokens"],
  messages: ["max_tokens"],
};

const ROUTES = new Map<string, FakeApi>([
  ["/v1/chat/completions", "chat"],
  ["/v1/responses", "responses"],
  ["/v1/messages", "messages"],
]);

/** Besides generation: the model list, and the count endpoints (Anthropic's, and vLLM's `/tokenize`). */
type Route = FakeApi | "models" | "count" | "tokenize";

function routeOf(method: string, path: string): Route | undefined {
  if (method === "GET" && path === "/v1/models") return "models";
  if (method === "POST" && path === "/v1/messages/count_tokens") return "count";
  if (method === "POST" && path === "/tokenize") return "tokenize";
  return method === "POST" ? ROUTES.get(path) : undefined;
}

/** /v1/models is both providers' auth check: there Anthropic clients are told apart by their headers. */
function dialectOf(route: Route | undefined, headers: IncomingHttpHeaders): Dialect {
  if (route === "messages" || route === "count") return "anthropic";
  if (route === "chat" || route === "responses" || route === "tokenize") return "openai";
  return headers["x-api-key"] !== undefined || headers["anthropic-version"] !== undefined
    ? "anthropic"
    : "openai";
}

// --- errors -------------------------------------------------------------------------------------------------
// Messages as the providers send them, from captured responses quoted in public issues (cited beside each).

// yihong0618/bilingual_book_maker#137 (2023 wording; the key URL there was beta.openai.com).
const OAI_NO_KEY = `You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.`;
// ChatGPTNextWeb/NextChat#4064, c-ttpfx/chatgpt-java-wx#6.
const OAI_BAD_JSON = `We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)`;
// dyad-sh/dyad#1672, openai/codex codex-rs/codex-api/src/sse/responses.rs (context_window_error_is_fatal).
const OAI_INPUT_TOO_LONG =
  "Your input exceeds the context window of this model. Please adjust your input and try again.";
const OAI_REGION = "Country, region, or territory not supported";
// Wei-Shaw/sub2api#6631 (seen as a Responses stream `error` event; the HTTP 503 status is our assumption).
const OAI_OVERLOADED = "Our servers are currently overloaded. Please try again later.";
// stagewise-io/stagewise#927 (2026 wording), bhouston/mycoder#62 (older: "... for your organization (<id>) of").
const antRateLimit = (model: string) =>
  `This request would exceed your organization's rate limit of 30,000 input tokens per minute (org: 00000000-0000-0000-0000-000000000000, model: ${model}). For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://claude.com/contact-sales to discuss your options for a rate limit increase.`;
// openai/codex responses.rs test fixtures (message), TheR1D/shell_gpt#653 (type "tokens", code).
const oaiRateLimit = (model: string) =>
  `Rate limit reached for ${model} in organization org-fake on tokens per min (TPM): Limit 30000, Used 30000, Requested 1000. Please try again in ${RETRY_AFTER_S}s. Visit https://platform.openai.com/account/rate-limits to learn more.`;
// openai/openai-cua-sample-app#54.
const oaiServerError = (rid: string) =>
  `The server had an error processing your request. Sorry about that! You can retry your request, or contact us through our help center at help.openai.com if you keep seeing this error. (Please include the request ID ${rid} in your email.)`;

/** `{"error":{message,type,param,code}}`: the body openai-node's APIError reads `.error` of. */
function oai(status: number, type: string, code: string | null, message: string, param?: string) {
  return { status, body: JSON.stringify({ error: { message, type, param: param ?? null, code } }) };
}

/** `{"type":"error","error":{type,message},"request_id"}`: https://docs.claude.com/en/api/errors. */
function ant(status: number, type: string, message: string, rid: string) {
  return { status, body: JSON.stringify({ type: "error", error: { type, message }, request_id: rid }) };
}

/** Masks as OpenAI's 401 does, 8 first and 4 last characters (continuedev/continue#9634, GPT_API_free#62). */
const maskKey = (key: string) =>
  key.length <= 12 ? key : key.slice(0, 8) + "*".repeat(key.length - 12) + key.slice(-4);

interface Credential {
  key: string;
  bearer: boolean;
}

/** The key a request presents. Anthropic takes `x-api-key` or, as @anthropic-ai/sdk 1.x sends it, a Bearer. */
function credential(dialect: Dialect, headers: IncomingHttpHeaders): Credential {
  const xApiKey = dialect === "anthropic" ? headers["x-api-key"] : undefined;
  if (typeof xApiKey === "string") return { key: xApiKey, bearer: false };
  const bearer = /^Bearer\s+(.*)$/i.exec(headers.authorization ?? "")?.[1];
  return { key: bearer ?? "", bearer: bearer !== undefined };
}

function unauthorized(dialect: Dialect, { key, bearer }: Credential, rid: string): Reply {
  if (dialect === "anthropic") {
    // cline/cline#12 ("invalid x-api-key"), Jeffser/Alpaca#727 ("Invalid bearer token"), n8n-io/n8n#37930.
    const message = bearer
      ? "Invalid bearer token"
      : key
        ? "invalid x-api-key"
        : "x-api-key header is required";
    return ant(401, "authentication_error", message, rid);
  }
  if (!key) return oai(401, "invalid_request_error", null, OAI_NO_KEY);
  // chatanywhere/GPT_API_free#62, continuedev/continue#10398.
  const message = `Incorrect API key provided: ${maskKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`;
  return oai(401, "invalid_request_error", "invalid_api_key", message);
}

/** Squid's ERR_ACCESS_DENIED answer (headers: sipgate/sipgate.io#35; page: m1k1o/neko#509), abridged. */
const PROXY_FORBIDDEN: Reply = {
  status: 403,
  intermediary: true,
  headers: {
    "content-type": "text/html;charset=utf-8",
    server: "squid/6.10",
    "mime-version": "1.0",
    "x-squid-error": "ERR_ACCESS_DENIED 0",
    vary: "Accept-Language",
    "content-language": "en",
    "x-cache": "MISS from proxy.corp.example",
    via: "1.1 proxy.corp.example (squid/6.10)",
  },
  body: `<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">
<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>ERROR: The requested URL could not be retrieved</title>
</head><body id=ERR_ACCESS_DENIED>
<div id="titles"><h1>ERROR</h1><h2>The requested URL could not be retrieved</h2></div>
<div id="content">
<blockquote id="error"><p><b>Access Denied.</b></p></blockquote>
<p>Access control configuration prevents your request from being allowed at this time. Please contact your service provider if you feel this is incorrect.</p>
</div>
<div id="footer"><p>Generated by proxy.corp.example (squid/6.10)</p><!-- ERR_ACCESS_DENIED --></div>
</body></html>
`,
};

/** What a failure mode answers, whatever the request; undefined in `normal` and `overflow-once`. */
function failure(mode: FakeMode, dialect: Dialect, cred: Credential, model: string, rid: string) {
  const anthropic = dialect === "anthropic";
  switch (mode) {
    case "proxy-forbidden":
      return PROXY_FORBIDDEN;
    case "malformed": // A 200 cut short yet labelled JSON, as from a broken upstream or middlebox.
      return { status: 200, body: `{"id":"chatcmpl-fake","object":"chat.comp` };
    case "unauthorized":
      return unauthorized(dialect, cred, rid);
    case "forbidden":
      // Anthropic: anthropics/claude-code#51610, #17848. OpenAI: nalgeon/pokitoki#42, continuedev/continue#11449.
      return anthropic
        ? ant(403, "permission_error", "Permission denied", rid)
        : oai(403, "request_forbidden", "unsupported_country_region_territory", OAI_REGION);
    case "rate-limited": {
      // retry-after on 429: https://docs.claude.com/en/api/rate-limits; openai-node honours it too.
      const reply = anthropic
        ? ant(429, "rate_limit_error", antRateLimit(model), rid)
        : oai(429, "tokens", "rate_limit_exceeded", oaiRateLimit(model));
      return { ...reply, headers: { "retry-after": RETRY_AFTER_S } };
    }
    case "server-error":
      // Anthropic: anthropics/claude-code#28639, #45350.
      return anthropic
        ? ant(500, "api_error", "Internal server error", rid)
        : oai(500, "server_error", null, oaiServerError(rid));
    case "overloaded":
      // Anthropic 529 with x-should-retry: anthropics/anthropic-sdk-typescript#616.
      return anthropic
        ? { ...ant(529, "overloaded_error", "Overloaded", rid), headers: { "x-should-retry": "true" } }
        : oai(503, "service_unavailable_error", "server_is_overloaded", OAI_OVERLOADED);
    default:
      return undefined;
  }
}

/** The provider's context-overflow answer for `prompt` tokens reserving `reserve` for output. */
function overflow({ api, stream, reserve, window, rid, model }: Ask, prompt: number): Reply {
  if (api === "messages") {
    // 400 even when streaming. "prompt is too long": boldsoftware/exe.dev#62, earendil-works/pi#102; the prompt
    // fits but prompt + max_tokens does not: docker/docker-agent#569, Aider-AI/aider#3618.
    const message =
      reserve === undefined || prompt > window
        ? `prompt is too long: ${prompt} tokens > ${window} maximum`
        : `input length and \`max_tokens\` exceed context limit: ${prompt} + ${reserve} > ${window}, decrease input length or \`max_tokens\` and try again`;
    return { ...ant(400, "invalid_request_error", message, rid), tooLong: true };
  }
  if (api === "chat") {
    // 400 before any byte even when streaming (stdapi-ai/stdapi.ai#298). crewAIInc/crewAI-examples#121 (whole
    // body), mckaywrigley/chatbot-ui#102 (with max_tokens). Newer models say "Input tokens exceed the configured
    // limit of N tokens. Your messages resulted in M tokens. ..." (archi-physics/archi#497), same type and code.
    const head = `This model's maximum context length is ${window} tokens. However,`;
    const message =
      reserve === undefined
        ? `${head} your messages resulted in ${prompt} tokens. Please reduce the length of the messages.`
        : `${head} you requested ${prompt + reserve} tokens (${prompt} in the messages, ${reserve} in the completion). Please reduce the length of the messages or completion.`;
    return {
      ...oai(400, "invalid_request_error", "context_length_exceeded", message, "messages"),
      tooLong: true,
    };
  }
  // Responses without stream: a 400 (maximhq/bifrost#4413: the non-stream path returns the full error).
  const error = {
    type: "invalid_request_error",
    code: "context_length_exceeded",
    message: OAI_INPUT_TOO_LONG,
    param: "input",
  };
  if (!stream) return { ...oai(400, error.type, error.code, error.message, error.param), tooLong: true };
  // With stream: 200, then `error` as event 2 (dyad-sh/dyad#1672, nested as in Wei-Shaw/sub2api#6631) and
  // `response.failed` as event 3 (openai/codex codex-rs/codex-api/src/sse/responses.rs fixture).
  const created = responseObject(rid, model, "in_progress", [], null);
  const failed = { ...created, status: "failed", error: { code: error.code, message: error.message } };
  const events = [
    { type: "response.created", response: created },
    { type: "response.in_progress", response: created },
    { type: "error", error },
    { type: "response.failed", response: failed },
  ];
  return {
    status: 200,
    body: events.map((e, i) => sse(e.type, { ...e, sequence_number: i })),
    tooLong: true,
  };
}

// --- success ------------------------------------------------------------------------------------------------

function sse(event: string | undefined, data: unknown): string {
  return `${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;
}

/** The Responses `Response` object (openai-node `resources/responses/responses.ts`, interface Response). */
function responseObject(rid: string, model: string, status: string, output: unknown[], usage: unknown) {
  return {
    id: `resp_${rid}`,
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage,
    user: null,
    metadata: {},
  };
}

/** What a successful answer says: text, or one call of a tool the request offered. */
type Answer = { text: string } | { call: { id: string; name: string; arguments: string } };

/** JSON arguments as a model streams them: a few characters at a time. */
const argumentPieces = (json: string) => json.match(/[\s\S]{1,12}/g) ?? [""];

/** The answer, whole or streamed (text word by word, tool arguments a few characters at a time). */
function success({ api, body, model, stream, prompt, rid }: Ask, answer: Answer, output: number): Reply {
  const call = "call" in answer ? answer.call : undefined;
  const text = "text" in answer ? answer.text : "";
  const pieces = call ? argumentPieces(call.arguments) : text.split(/(?= )/);

  if (api === "chat") {
    // https://platform.openai.com/docs/api-reference/chat/object, and /chat-streaming for the chunk object.
    const usage = {
      prompt_tokens: prompt,
      completion_tokens: output,
      total_tokens: prompt + output,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    };
    const created = Math.floor(Date.now() / 1000);
    const head = {
      id: `chatcmpl-${rid}`,
      created,
      model,
      service_tier: "default",
      system_fingerprint: "fp_fake",
    };
    const finish = call ? "tool_calls" : "stop";
    const toolCall = call && { id: call.id, type: "function", function: { name: call.name } };
    if (!stream) {
      const message = call
        ? {
            role: "assistant",
            content: null,
            tool_calls: [{ ...toolCall, function: { name: call.name, arguments: call.arguments } }],
            refusal: null,
            annotations: [],
          }
        : { role: "assistant", content: text, refusal: null, annotations: [] };
      const choices = [{ index: 0, message, logprobs: null, finish_reason: finish }];
      return { status: 200, body: JSON.stringify({ ...head, object: "chat.completion", choices, usage }) };
    }
    // stream_options.include_usage: every chunk has `usage: null`, then one more chunk carries the usage with
    // `choices: []`, before [DONE] (ChatCompletionStreamOptions in OpenAI's OpenAPI spec). A tool call: its id,
    // type and name in the first delta, then its arguments in pieces, each delta naming the call's `index`.
    const withUsage = isRecord(body.stream_options) && body.stream_options.include_usage === true;
    const chunk = (choices: unknown[], rest: Json = withUsage ? { usage: null } : {}) =>
      sse(undefined, { ...head, object: "chat.completion.chunk", choices, ...rest });
    const choice = (delta: Json, reason: string | null) => [
      { index: 0, delta, logprobs: null, finish_reason: reason },
    ];
    const first = toolCall
      ? {
          role: "assistant",
          content: null,
          tool_calls: [{ index: 0, ...toolCall, function: { name: toolCall.function.name, arguments: "" } }],
          refusal: null,
        }
      : { role: "assistant", content: "", refusal: null };
    const delta = (p: string): Json =>
      call ? { tool_calls: [{ index: 0, function: { arguments: p } }] } : { content: p };
    const events = [
      chunk(choice(first, null)),
      ...pieces.map((p) => chunk(choice(delta(p), null))),
      chunk(choice({}, finish)),
    ];
    if (withUsage) events.push(chunk([], { usage }));
    return { status: 200, body: [...events, "data: [DONE]\n\n"] };
  }

  if (api === "responses") {
    const usage = {
      input_tokens: prompt,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: output,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: prompt + output,
    };
    const part = { type: "output_text", annotations: [], logprobs: [], text };
    // ResponseFunctionToolCall in openai-node `resources/responses/responses.ts`.
    const item: Json = call
      ? {
          id: `fc_${rid}`,
          type: "function_call",
          status: "completed",
          arguments: call.arguments,
          call_id: call.id,
          name: call.name,
        }
      : { id: `msg_${rid}`, type: "message", status: "completed", role: "assistant", content: [part] };
    const done = responseObject(rid, model, "completed", [item], usage);
    if (!stream) return { status: 200, body: JSON.stringify(done) };
    // Event order and fields: https://platform.openai.com/docs/api-reference/responses-streaming.
    const started = { ...done, status: "in_progress", output: [], usage: null };
    const at = { item_id: item.id, output_index: 0 };
    const middle: Json[] = call
      ? [
          {
            type: "response.output_item.added",
            output_index: 0,
            item: { ...item, status: "in_progress", arguments: "" },
          },
          ...pieces.map((delta) => ({ type: "response.function_call_arguments.delta", ...at, delta })),
          {
            type: "response.function_call_arguments.done",
            ...at,
            name: call.name,
            arguments: call.arguments,
          },
        ]
      : [
          {
            type: "response.output_item.added",
            output_index: 0,
            item: { ...item, status: "in_progress", content: [] },
          },
          { type: "response.content_part.added", ...at, content_index: 0, part: { ...part, text: "" } },
          ...pieces.map((delta) => ({
            type: "response.output_text.delta",
            ...at,
            content_index: 0,
            delta,
            logprobs: [],
          })),
          { type: "response.output_text.done", ...at, content_index: 0, text, logprobs: [] },
          { type: "response.content_part.done", ...at, content_index: 0, part },
        ];
    const events: Json[] = [
      { type: "response.created", response: started },
      { type: "response.in_progress", response: started },
      ...middle,
      { type: "response.output_item.done", output_index: 0, item },
      { type: "response.completed", response: done },
    ];
    return { status: 200, body: events.map((e, i) => sse(String(e.type), { ...e, sequence_number: i })) };
  }

  // Anthropic: https://docs.claude.com/en/api/messages, and /en/docs/build-with-claude/streaming for the events
  // (a tool_use block opens with `input: {}` and its JSON comes in input_json_delta events, the first one empty).
  const usage = {
    input_tokens: prompt,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: output,
    service_tier: "standard",
  };
  const stopReason = call ? "tool_use" : "end_turn";
  const message = {
    id: `msg_${rid}`,
    type: "message",
    role: "assistant",
    model,
    content: [
      call
        ? { type: "tool_use", id: call.id, name: call.name, input: JSON.parse(call.arguments) }
        : { type: "text", text },
    ],
    stop_reason: stopReason,
    stop_sequence: null,
    usage,
  };
  if (!stream) return { status: 200, body: JSON.stringify(message) };
  const start = { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } };
  const block = call
    ? { type: "tool_use", id: call.id, name: call.name, input: {} }
    : { type: "text", text: "" };
  const delta = (p: string) =>
    call ? { type: "input_json_delta", partial_json: p } : { type: "text_delta", text: p };
  const events: Json[] = [
    { type: "message_start", message: start },
    { type: "content_block_start", index: 0, content_block: block },
    { type: "ping" },
    ...(call ? [""] : [])
      .concat(pieces)
      .map((p) => ({ type: "content_block_delta", index: 0, delta: delta(p) })),
    { type: "content_block_stop", index: 0 },
    {
      type: "message_delta",
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: output },
    },
    { type: "message_stop" },
  ];
  return { status: 200, body: events.map((e) => sse(String(e.type), e)) };
}

/**
 * A stream with two broken lines after its 3rd event (past Anthropic's ping): a line that is no SSE
 * field (a parser skips it) and the 4th event again, cut in the middle of its JSON (a parser hands
 * over data that is not JSON).
 */
function withMalformedEvent(events: readonly string[]): string[] {
  const next = events[3] as string;
  const data = next.indexOf("data: ") + "data: ".length;
  const cut = `${next.slice(0, data + ((next.length - data) >> 1))}\n\n`;
  return [...events.slice(0, 3), "this line is no SSE field\n", cut, ...events.slice(3)];
}

// --- the server ---------------------------------------------------------------------------------------------

export async function startFakeProvider(options: FakeProviderOptions = {}): Promise<FakeProvider> {
  const windows = options.contextWindow ?? { default: 128_000 };
  const countTokens = options.countTokens ?? ((text: string) => Math.ceil(Buffer.byteLength(text) / 4));
  const apiKeys = new Set(options.apiKeys ?? ["test-key"]);
  const requests: RecordedRequest[] = [];
  const closing = new AbortController();
  let mode: FakeMode = "normal";
  let seq = 0;
  let queue: ScriptedReply[] = [];

  const wait = (ms: number | undefined) =>
    ms ? sleep(ms, undefined, { signal: closing.signal, ref: false }) : undefined;

  const contentOf = (api: FakeApi, json: Json) =>
    CONTEXT_FIELDS[api].reduce(
      (sum, field) => (json[field] !== undefined ? sum + contentTokens(json[field], countTokens) : sum),
      0,
    );

  function decide(record: RecordedRequest, dialect: Dialect, rid: string): Reply {
    const route = routeOf(record.method, record.path);
    const h = record.headers;
    const cred = credential(dialect, h);
    const body = isRecord(record.json) ? record.json : {};
    const model = typeof body.model === "string" ? body.model : "unknown";

    const failed = failure(mode, dialect, cred, model, rid);
    if (failed) return failed;
    if (route === undefined) {
      // Anthropic: the not_found_error example at https://docs.claude.com/en/api/errors. OpenAI: InternLM/MindSearch#150.
      if (dialect === "anthropic")
        return ant(404, "not_found_error", "The requested resource could not be found.", rid);
      const message = `Unknown request URL: ${record.method} ${record.path}. Please check the URL for typos, or see the docs at https://platform.openai.com/docs/api-reference/.`;
      return oai(404, "invalid_request_error", "unknown_url", message);
    }
    if (!apiKeys.has(cred.key)) return unauthorized(dialect, cred, rid);
    if (dialect === "anthropic" && h["anthropic-version"] === undefined) {
      // envoyproxy/ai-gateway#1909, PipedreamHQ/pipedream#9697.
      return ant(400, "invalid_request_error", "anthropic-version: header is required", rid);
    }
    if (route === "models") {
      // https://docs.claude.com/en/api/models-list, https://platform.openai.com/docs/api-reference/models/list.
      const ids = Object.keys(windows).filter((id) => id !== "default");
      const created_at = "2025-01-01T00:00:00Z";
      const list =
        dialect === "anthropic"
          ? {
              data: ids.map((id) => ({ type: "model", id, display_name: id, created_at })),
              has_more: false,
              first_id: ids[0] ?? null,
              last_id: ids.at(-1) ?? null,
            }
          : {
              object: "list",
              data: ids.map((id) => ({ id, object: "model", created: 1_735_689_600, owned_by: "system" })),
            };
      return { status: 200, body: JSON.stringify(list) };
    }
    if (route === "count" || route === "tokenize") {
      // https://docs.claude.com/en/api/messages-count-tokens; vLLM's serving_tokenization (count, max_model_len, tokens).
      const prompt = contentOf(route === "count" ? "messages" : "chat", body);
      const answer =
        route === "count"
          ? { input_tokens: prompt }
          : { count: prompt, max_model_len: windows[model] ?? windows.default, tokens: [] };
      return { status: 200, body: JSON.stringify(answer) };
    }
    if (!isRecord(record.json)) {
      // Anthropic: use1stm/claude-code#37 ("The request body is not valid JSON: " + the parser's words, which
      // come from Python there; ours is a fixed phrase). OpenAI: OAI_BAD_JSON.
      if (dialect === "openai") return oai(400, "invalid_request_error", null, OAI_BAD_JSON);
      return ant(400, "invalid_request_error", "The request body is not valid JSON: Expecting value", rid);
    }

    const reserveField = RESERVE_FIELDS[route].find((f) => typeof body[f] === "number");
    const ask: Ask = {
      api: route,
      body,
      model,
      stream: body.stream === true,
      prompt: record.promptTokens ?? 0,
      reserve: reserveField === undefined ? undefined : (body[reserveField] as number),
      window: windows[model] ?? windows.default,
      rid,
    };
    if (mode === "overflow-once") {
      mode = "normal";
      // Claims at least one token over the window, so that the message stays self-consistent.
      return overflow(ask, Math.max(ask.prompt, ask.window + 1));
    }
    if (ask.prompt + (ask.reserve ?? 0) > ask.window) return overflow(ask, ask.prompt);
    const scripted = Array.isArray(body.tools) && body.tools.length > 0 ? queue.shift() : undefined;
    record.scripted = scripted;
    if (scripted && "toolCall" in scripted) {
      const { name, arguments: args, id } = scripted.toolCall;
      const json = JSON.stringify(args);
      const prefix = route === "messages" ? "toolu" : "call";
      const call = { id: id ?? `${prefix}_${rid.slice(4)}`, name, arguments: json };
      return success(ask, { call }, countTokens(name) + countTokens(json));
    }
    const text =
      scripted === undefined
        ? `ok ${ask.prompt} tokens`
        : typeof scripted.text === "function"
          ? scripted.text(record)
          : scripted.text;
    return success(ask, { text }, countTokens(text));
  }

  /** Sends nothing more until the client leaves or close() is called. */
  async function stall(res: ServerResponse): Promise<void> {
    if (!res.destroyed && !closing.signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          closing.signal.removeEventListener("abort", done);
          resolve();
        };
        res.once("close", done);
        closing.signal.addEventListener("abort", done, { once: true });
      });
    }
    res.destroy();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const method = req.method ?? "GET";
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    let json: unknown;
    try {
      json = body.length > 0 ? JSON.parse(body.toString("utf8")) : undefined;
    } catch {
      json = undefined;
    }
    const route = routeOf(method, path);
    const api = route === "models" || route === "count" || route === "tokenize" ? undefined : route;
    const promptTokens = api && isRecord(json) ? contentOf(api, json) : undefined;
    const record: RecordedRequest = {
      method,
      path,
      headers: req.headers,
      body,
      json,
      api,
      promptTokens,
      tooLong: false,
      scripted: undefined,
      sent: [],
      ended: new Promise((resolve) =>
        res.once("close", () => resolve({ at: performance.now(), finished: res.writableFinished })),
      ),
    };
    requests.push(record);

    // Taken before decide(), which turns "overflow-once" back to "normal".
    const fault = api === undefined ? "normal" : mode;
    const rid = `req_fake${String(++seq).padStart(20, "0")}`;
    const dialect = dialectOf(route, req.headers);
    const reply = decide(record, dialect, rid);
    record.tooLong = reply.tooLong === true;
    const streaming = typeof reply.body !== "string";
    const headers: Record<string, string> = {
      "content-type": streaming ? "text/event-stream; charset=utf-8" : "application/json",
      ...(streaming ? { "cache-control": "no-cache" } : {}),
      // Where the SDKs read the request id from (their APIError.requestID).
      ...(reply.intermediary ? {} : { [dialect === "anthropic" ? "request-id" : "x-request-id"]: rid }),
      ...reply.headers,
    };

    await wait(options.latencyMs);
    if (fault === "reset-before-headers") return void res.destroy();
    if (fault === "stall-before-headers") return stall(res);
    const send = (piece: string | Buffer) => {
      const bytes = Buffer.from(piece);
      record.sent.push(bytes);
      // Resolves once the bytes are handed to the socket: a fault that follows cannot swallow them.
      return new Promise<void>((resolve) => res.write(bytes, () => resolve()));
    };
    if (typeof reply.body === "string") {
      const whole = Buffer.from(reply.body);
      if (fault !== "cut-mid-body") {
        record.sent.push(whole);
        return void res.writeHead(reply.status, headers).end(whole);
      }
      res.writeHead(reply.status, { ...headers, "content-length": String(whole.length) });
      await send(whole.subarray(0, whole.length >> 1));
      return void res.destroy();
    }
    res.writeHead(reply.status, headers);
    const events =
      fault === "malformed-stream" && reply.body.length > 4 ? withMalformedEvent(reply.body) : reply.body;
    let written: Promise<void> | undefined;
    for (const [i, event] of events.entries()) {
      if (i > 0) await wait(options.chunkDelayMs);
      if (res.destroyed) return;
      if (i === CUT_AFTER_EVENTS && fault === "cut-mid-body") {
        await written;
        return void res.destroy();
      }
      if (i === CUT_AFTER_EVENTS && fault === "stall-mid-body") return stall(res);
      written = send(event);
    }
    res.end();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Cut short by close() or by the client leaving: nobody is left to answer.
      if (closing.signal.aborted || res.destroyed) return void res.destroy();
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`fake-provider: ${String(err)}`);
    });
  });
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.listen(options.port ?? 0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    setMode(next) {
      if (!FAKE_MODES.includes(next)) {
        throw new Error(
          `fake-provider: mode: expected one of ${FAKE_MODES.join(", ")}, got ${JSON.stringify(next)}`,
        );
      }
      mode = next;
    },
    script(replies) {
      queue = [...replies];
    },
    get scriptLeft() {
      return queue.length;
    },
    get openConnections() {
      return sockets.size;
    },
    async close() {
      if (!server.listening) return;
      closing.abort();
      const closed = once(server, "close");
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

/** What an image, a PDF, a file or an audio part costs here: providers bill them by pixels, pages or seconds. */
const MEDIA_TOKENS = 1000;
const MEDIA = new Set(["image_url", "input_image", "input_file", "input_audio", "file", "image", "document"]);

/**
 * Tokens of every string in a value, plus 3 per object for the template around each message; a
 * media part (image, document, file, audio) a fixed MEDIA_TOKENS, whatever the size of its data.
 */
export function contentTokens(value: unknown, countTokens: (text: string) => number): number {
  if (typeof value === "string") return countTokens(value);
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + contentTokens(v, countTokens), 0);
  if (isRecord(value) && typeof value.type === "string" && MEDIA.has(value.type)) return MEDIA_TOKENS;
  if (isRecord(value))
    return Object.values(value).reduce((n: number, v) => n + contentTokens(v, countTokens), 3);
  return 0;
}

/**
 * The tool outputs a recorded request carries, oldest first: Chat `role: "tool"` messages, Anthropic
 * `tool_result` blocks, Responses `function_call_output` items (text parts joined).
 */
export function toolResultsOf(request: Pick<RecordedRequest, "api" | "json">): string[] {
  const body = isRecord(request.json) ? request.json : {};
  const list = request.api === "responses" ? body.input : body.messages;
  if (!Array.isArray(list)) return [];
  const text = (content: unknown): string =>
    typeof content === "string"
      ? content
      : Array.isArray(content)
        ? content.map((p) => (isRecord(p) && typeof p.text === "string" ? p.text : "")).join("")
        : "";
  const results: string[] = [];
  for (const item of list) {
    if (!isRecord(item)) continue;
    if (request.api === "chat" && item.role === "tool") results.push(text(item.content));
    if (request.api === "responses" && item.type === "function_call_output") results.push(text(item.output));
    if (request.api === "messages" && Array.isArray(item.content)) {
      for (const block of item.content)
        if (isRecord(block) && block.type === "tool_result") results.push(text(block.content));
    }
  }
  return results;
}

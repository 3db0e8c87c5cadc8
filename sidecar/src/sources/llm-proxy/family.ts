import { isPlainObject } from "@clawguard/shared/events/envelope";
import { arrayElements, objectMembers, rootSpan, type Span } from "./json-layout.ts";

/** The request APIs the guard understands, named as OpenClaw's `models.providers.*.api` names them. */
export const API_FAMILIES = ["openai-completions", "openai-responses", "anthropic-messages"] as const;
export type ApiFamily = (typeof API_FAMILIES)[number];

export interface Counter {
  /** Tokens of one text. */
  count(text: string): number;
}

/** One element of the conversation array (a message, or a Responses input item). */
export interface Item {
  span: Span;
  value: unknown;
  tokens: number;
  /** Whether a cut may fall right before this item (never between a tool call and its result). */
  cutBefore: boolean;
  /**
   * Whether a new exchange starts here: a user message, except one that closes the request right
   * after a tool result (OpenClaw appends an "internal context" user message there on every call):
   * that one continues the exchange whose tool ran.
   */
  startsTurn: boolean;
  /** The tool outputs this item carries: each can be spilled and replaced by a preview. */
  toolResults?: ToolResult[];
}

export interface ToolResult {
  text: string;
  /** A copy of the item's value with this output replaced by `replacement`. */
  replace(value: unknown, replacement: string): unknown;
}

/** A request as the trimmer sees it. */
export interface Conversation {
  /** The conversation array's span in the body text. */
  span: Span;
  items: Item[];
  /** How many leading items belong to the stable prefix (never changed). */
  prefixCount: number;
  /** Tokens outside the array: system prompt, tool definitions, per-request overhead. */
  fixedTokens: number;
  /** Of `fixedTokens`, those of a bare-string conversation (Responses' `input: "..."`): not a stable prefix. */
  unprefixed?: number;
}

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  finishReasons?: string[];
  responseModel?: string;
  responseId?: string;
}

/** What one API family knows about its requests, responses and errors. */
export interface Family {
  readonly api: ApiFamily;
  /** `gen_ai.provider.name` for this API. */
  readonly providerName: string;
  /** Whether `path` (under the provider's base URL) is this API's generation endpoint. */
  isGeneration(method: string, path: string): boolean;
  /** The conversation inside a parsed body, or undefined when the body is not one this guard reads. */
  conversation(body: Record<string, unknown>, text: string, counter: Counter): Conversation | undefined;
  /** The output tokens the request reserves (max_tokens and its kin), when it says. */
  outputReserve(body: Record<string, unknown>): number | undefined;
  /**
   * The JSON that tells the model what the guard removed, placed right after the stable prefix:
   * its own item, or (`mergesNext`) the next kept item with the note prepended to it.
   */
  marker(note: string, next: Item | undefined): { json: string; mergesNext: boolean };
  /**
   * The provider's own context-overflow answer, so the client's recovery runs: `prompt` tokens
   * (the guard's count, margin included) and `reserve` output tokens do not fit in `limit`.
   */
  overflowError(limit: number, prompt: number, reserve: number): { status: number; body: unknown };
  /** The provider's overflow error recognized in a response: its limit and count, when given. */
  parseOverflow(status: number, body: string): Overflow | undefined;
  /** An error in the provider's own shape (bad request body, upstream unreachable, ...). */
  error(status: number, message: string): { status: number; body: unknown };
  /** Folds a whole JSON response's usage and finish reasons into `usage`. */
  usageFromJson(body: unknown, usage: Usage): void;
  /** Folds one server-sent event's data into `usage`. */
  usageFromEvent(data: unknown, usage: Usage): void;
}

/**
 * What an image, a document (PDF), a file or an audio clip counts: providers bill them by pixels,
 * pages or seconds, not by the size of their base64, which would overcount them many times over
 * (a 450 KB PDF is not 430 000 tokens). A fixed amount: the provider has the last word on them.
 */
const MEDIA_TOKENS = 2000;
const PER_ITEM_TOKENS = 4;

/**
 * Tokens of a JSON value as the provider counts them, rounded up: the text of its strings (not
 * their JSON escapes), a token per key and per other scalar, a few per object and per item for
 * the chat template. Inline images count
 * as a fixed, generous amount (providers bill them by pixels, not by the size of their base64).
 */
export function valueTokens(value: unknown, counter: Counter): number {
  if (typeof value === "string") return counter.count(value);
  if (Array.isArray(value)) {
    let sum = 0;
    for (const v of value) sum += valueTokens(v, counter);
    return sum;
  }
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (isMedia(o)) return MEDIA_TOKENS;
    let sum = 3; // the object's own framing in the chat template
    for (const key in o) sum += 1 + valueTokens(o[key], counter);
    return sum;
  }
  return 1;
}

export function itemTokens(value: unknown, counter: Counter): number {
  return PER_ITEM_TOKENS + valueTokens(value, counter);
}

const MEDIA_TYPES = new Set(["image_url", "input_image", "input_file", "input_audio", "file"]);

/** An inline image, document, file or audio part (OpenAI Chat and Responses, Anthropic Messages). */
function isMedia(o: Record<string, unknown>): boolean {
  if (typeof o.type !== "string") return false;
  if (MEDIA_TYPES.has(o.type)) return true;
  // Anthropic: an image, or a document whose source is not plain text (a PDF, a file id, a URL).
  const source = asRecord(o.source);
  return (o.type === "image" || o.type === "document") && source !== undefined && source.type !== "text";
}

/**
 * Where the current turn (the exchange being answered) starts: its question, tool calls, their
 * results and whatever follows are never dropped.
 */
export function currentTurnStart(items: readonly Item[]): number {
  for (let i = items.length - 1; i >= 0; i--) if (items[i]?.startsTurn) return i;
  for (let i = items.length - 1; i > 0; i--) if (items[i]?.cutBefore) return i;
  return 0;
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return isPlainObject(value) ? value : undefined;
}

/** The text of a tool output given as a string or as content parts with text. */
export function contentText(content: unknown): string | undefined {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return undefined;
  const texts: string[] = [];
  for (const part of content) {
    const p = asRecord(part);
    if (p && typeof p.text === "string") texts.push(p.text);
    else return undefined; // images or anything else: not a plain text output
  }
  return texts.join("\n");
}

export function firstNumber(...values: unknown[]): number | undefined {
  for (const v of values) if (typeof v === "number" && Number.isFinite(v)) return v;
  return undefined;
}

/** What a family says about one element of its conversation array. */
export interface ItemShape {
  cutBefore: boolean;
  startsTurn: boolean;
  toolResults?: ToolResult[];
}

/**
 * The conversation in `body[key]` (an array of messages or items), laid out over the body text.
 * `shape` sees each element with the one before it (`previous`) and whether it is the last;
 * `prefixCount` decides the stable prefix once the items are known.
 */
export function readConversation(
  body: Record<string, unknown>,
  text: string,
  counter: Counter,
  options: {
    key: string;
    /** Top-level fields that go into the context besides the array (system, tools, ...). */
    contextFields: readonly string[];
    /** Tokens the provider adds per request (reply priming). */
    overheadTokens: number;
    shape(value: unknown, previous: unknown, last: boolean): ItemShape;
    prefixCount(items: readonly Item[], values: readonly unknown[]): number;
  },
): Conversation | undefined {
  const values = body[options.key];
  if (typeof values === "string") return bareString(body, text, values, counter, options);
  if (!Array.isArray(values)) return undefined;
  const span = objectMembers(text, rootSpan(text)).get(options.key);
  if (!span) return undefined;
  const spans = arrayElements(text, span);
  const items: Item[] = values.map((value, i) => ({
    span: spans[i] ?? span,
    value,
    tokens: itemTokens(value, counter),
    ...options.shape(value, values[i - 1], i === values.length - 1),
  }));
  const fixedTokens = options.overheadTokens + contextTokens(body, options.contextFields, counter);
  return { span, items, prefixCount: options.prefixCount(items, values), fixedTokens };
}

/**
 * A conversation given as one string (Responses' `input: "..."`): one user message, the current
 * turn, nothing in it to trim; counted, so a request over the window is still told.
 */
function bareString(
  body: Record<string, unknown>,
  text: string,
  value: string,
  counter: Counter,
  options: { key: string; contextFields: readonly string[]; overheadTokens: number },
): Conversation | undefined {
  const span = objectMembers(text, rootSpan(text)).get(options.key);
  if (!span) return undefined;
  const unprefixed = PER_ITEM_TOKENS + counter.count(value);
  const fixedTokens =
    options.overheadTokens + unprefixed + contextTokens(body, options.contextFields, counter);
  return { span, items: [], prefixCount: 0, fixedTokens, unprefixed };
}

/** Tokens of the top-level fields that go into the context besides the conversation (system, tools...). */
function contextTokens(body: Record<string, unknown>, fields: readonly string[], counter: Counter): number {
  let tokens = 0;
  for (const field of fields) if (field in body) tokens += valueTokens(body[field], counter);
  return tokens;
}

/** How many leading elements are system or developer instructions (the OpenAI APIs' prefix). */
export function leadingInstructions(values: readonly unknown[]): number {
  let n = 0;
  while (n < values.length && ["system", "developer"].includes(String(asRecord(values[n])?.role))) n++;
  return n;
}

/** A tool output that is `field` of an element (a string or text parts): replaced whole. */
export function outputIn(value: unknown, field: string): ToolResult[] | undefined {
  const text = contentText(asRecord(value)?.[field]);
  if (text === undefined) return undefined;
  return [
    { text, replace: (v, replacement) => ({ ...(v as Record<string, unknown>), [field]: replacement }) },
  ];
}

/**
 * A provider's overflow answer, as far as it says: its window, what the request asked for in all
 * (prompt and completion), and its own count of the prompt alone.
 */
export interface Overflow {
  limit?: number;
  requested?: number;
  prompt?: number;
}

import { describe, expect, it } from "vitest";
import { anthropicMessages } from "./anthropic-messages.ts";
import type { Counter, Family } from "./family.ts";
import { objectMembers, rootSpan } from "./json-layout.ts";
import { openAiChat } from "./openai-chat.ts";
import { openAiResponses } from "./openai-responses.ts";
import { trimConversation } from "./trim.ts";

/** Four characters a token: crude, but the trimmer only needs a consistent counter. */
const counter: Counter = { count: (text) => Math.ceil(text.length / 4) };

function spiller() {
  const saved: string[] = [];
  return {
    saved,
    spill: (text: string) => {
      saved.push(text);
      return {
        id: `SPILL${saved.length}`,
        replacement: `[saved as SPILL${saved.length}]`,
        saved: Promise.resolve(),
      };
    },
  };
}

async function trim(family: Family, body: unknown, budget: number, raw = JSON.stringify(body)) {
  const conversation = family.conversation(body as Record<string, unknown>, raw, counter);
  if (!conversation) throw new Error("not a conversation");
  const s = spiller();
  const result = await trimConversation(family, raw, conversation, {
    budget,
    spillAboveTokens: 200,
    counter,
    spill: s.spill,
  });
  return { result, saved: s.saved, out: JSON.parse(result.text) as Record<string, unknown>, raw };
}

const words = (n: number, word = "lorem") => Array.from({ length: n }, (_, i) => `${word}${i}`).join(" ");
const SYSTEM = `You are a careful agent. ${words(300, "rule")}`;
const TOOLS = [{ type: "function", function: { name: "exec", parameters: { type: "object" } } }];

/** A chat with tool calls: each turn is user -> assistant(tool_calls) -> tool -> assistant. */
function chat(turns: number, bigResultAt?: number) {
  const messages: unknown[] = [{ role: "system", content: SYSTEM }];
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: `question ${t}: ${words(40)}` });
    messages.push({
      role: "assistant",
      content: null,
      tool_calls: [
        { id: `call_${t}`, type: "function", function: { name: "exec", arguments: `{"command":"ls ${t}"}` } },
      ],
    });
    const output = t === bigResultAt ? words(20_000, "out") : `result ${t}: ${words(30)}`;
    messages.push({ role: "tool", tool_call_id: `call_${t}`, content: output });
    messages.push({ role: "assistant", content: `answer ${t}: ${words(40)}` });
  }
  return { model: "gpt-4.1", messages, tools: TOOLS, stream: true };
}

/** Every tool result directly follows the assistant message that called it. */
function expectPairsIntact(messages: Array<Record<string, unknown>>) {
  messages.forEach((m, i) => {
    if (m.role !== "tool") return;
    let j = i - 1;
    while (j >= 0 && messages[j]?.role === "tool") j--;
    const calls = (messages[j]?.tool_calls as Array<{ id: string }> | undefined) ?? [];
    expect(calls.map((c) => c.id)).toContain(m.tool_call_id);
  });
}

describe("trimConversation", () => {
  it("leaves a request under budget untouched, byte for byte", async () => {
    const { result, raw } = await trim(openAiChat, chat(3), 1_000_000);
    expect(result.changed).toBe(false);
    expect(result.fits).toBe(true);
    expect(result.text).toBe(raw);
  });

  it("spills a huge tool output first, and stops there when that is enough", async () => {
    const body = chat(4, 1);
    const { result, saved, out } = await trim(openAiChat, body, 6000);
    expect(result.fits).toBe(true);
    expect(result.spilled).toHaveLength(1);
    expect(result.droppedItems).toBe(0);
    expect(saved[0]).toBe((body.messages[7] as { content: string }).content);
    expect((out.messages as Array<{ content: unknown }>)[7]?.content).toBe("[saved as SPILL1]");
    expect(result.tokensAfter).toBeLessThan(result.tokensBefore);
    expect(result.tokensAfter).toBeLessThanOrEqual(6000);
  });

  it("writes spills side by side, and answers only once every one is on disk (or fails with it)", async () => {
    const body = chat(12, 2);
    const raw = JSON.stringify(body);
    const conversation = openAiChat.conversation(body as Record<string, unknown>, raw, counter);
    if (!conversation) throw new Error("not a conversation");
    const pending: { resolve: () => void; reject: (err: Error) => void }[] = [];
    const spill = (_text: string) => {
      const n = pending.length + 1;
      const saved = new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
      return { id: `SPILL${n}`, replacement: `[saved as SPILL${n}]`, saved };
    };
    const options = { budget: 400, spillAboveTokens: 20, counter, spill };
    let done = false;
    const trimmed = trimConversation(openAiChat, raw, conversation, options).then((r) => {
      done = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 20));
    // Every spill was started before any was written; none is answered yet.
    expect(pending.length).toBeGreaterThan(1);
    expect(done).toBe(false);
    for (const p of pending) p.resolve();
    expect((await trimmed).spilled).toHaveLength(pending.length);

    pending.length = 0;
    const failing = trimConversation(openAiChat, raw, conversation, options);
    await new Promise((r) => setTimeout(r, 20));
    pending[0]?.reject(new Error("disk full"));
    for (const p of pending.slice(1)) p.resolve();
    await expect(failing).rejects.toThrow("disk full");
  });

  it("then drops the oldest turns whole, keeps the system prompt and tools byte-identical, and says so", async () => {
    const body = chat(12, 2);
    // The client's own serialization (spaces after separators) must survive where nothing changed.
    const raw = JSON.stringify(body, null, 1);
    const { result, out } = await trim(openAiChat, body, 2500, raw);
    expect(result.fits).toBe(true);
    expect(result.droppedItems).toBeGreaterThan(0);
    const messages = out.messages as Array<Record<string, unknown>>;
    expect(messages[0]).toEqual(body.messages[0]);
    expect(messages[1]?.role).toBe("user");
    expect(String(messages[1]?.content)).toMatch(/^\[clawguard\] \d+ earlier message\(s\)/);
    expectPairsIntact(messages);
    // The last turn is all there.
    expect(messages.slice(-4)).toEqual(body.messages.slice(-4));
    // Prefix bytes: everything up to the end of the system message is the client's own text.
    const systemEnd = raw.indexOf(SYSTEM) + JSON.stringify(SYSTEM).length - 1;
    expect(result.text.slice(0, systemEnd)).toBe(raw.slice(0, systemEnd));
    const tools = (t: string) => {
      const span = objectMembers(t, rootSpan(t)).get("tools");
      return span && t.slice(span.start, span.end);
    };
    expect(tools(result.text)).toBe(tools(raw));
  });

  it("reports a request that cannot fit even after trimming", async () => {
    const { result } = await trim(openAiChat, chat(3), 500);
    expect(result.fits).toBe(false);
    expect(result.tokensAfter).toBeGreaterThan(500);
  });

  it("anthropic: keeps everything up to the last cache_control breakpoint and merges the note into the next user turn", async () => {
    const messages: unknown[] = [];
    for (let t = 0; t < 10; t++) {
      messages.push({
        role: "user",
        content: [
          {
            type: "text",
            text: `ask ${t} ${words(60)}`,
            ...(t === 1 ? { cache_control: { type: "ephemeral" } } : {}),
          },
        ],
      });
      messages.push({
        role: "assistant",
        content: [{ type: "tool_use", id: `tu_${t}`, name: "exec", input: { command: "ls" } }],
      });
      messages.push({
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: `tu_${t}`, content: t === 4 ? words(10_000, "x") : `ok ${t}` },
        ],
      });
      messages.push({ role: "assistant", content: [{ type: "text", text: `done ${t} ${words(50)}` }] });
    }
    const body = {
      model: "claude-sonnet-4-5",
      max_tokens: 1024,
      system: [{ type: "text", text: SYSTEM, cache_control: { type: "ephemeral" } }],
      tools: [{ name: "exec", input_schema: { type: "object" } }],
      messages,
    };
    const { result, out, raw } = await trim(anthropicMessages, body, 3000);
    expect(result.fits).toBe(true);
    expect(result.spilled).toHaveLength(1);
    const kept = out.messages as Array<{ role: string; content: Array<Record<string, unknown>> }>;
    // Messages 0..4 (through the breakpoint in message 4) are untouched, in their original bytes.
    expect(kept.slice(0, 5)).toEqual(messages.slice(0, 5));
    const end = raw.indexOf('{"role":"assistant","content":[{"type":"tool_use","id":"tu_1"');
    expect(result.text.slice(0, end)).toBe(raw.slice(0, end));
    // The note is merged into the next plain user turn, not a second consecutive user message.
    const note = kept[5];
    expect(note?.role).toBe("user");
    expect(String(note?.content[0]?.text)).toMatch(/^\[clawguard\]/);
    expect(note?.content[1]?.type).toBe("text");
    // Every tool_result follows its tool_use.
    kept.forEach((m, i) => {
      for (const block of m.content) {
        if (block.type !== "tool_result") continue;
        const ids = (kept[i - 1]?.content ?? []).map((b) => b.id);
        expect(ids).toContain(block.tool_use_id);
      }
    });
  });

  it("responses: never separates reasoning, a function call and its output", async () => {
    const input: unknown[] = [{ role: "developer", content: SYSTEM }];
    for (let t = 0; t < 10; t++) {
      input.push({ role: "user", content: `task ${t} ${words(60)}` });
      input.push({ type: "reasoning", id: `rs_${t}`, summary: [] });
      input.push({ type: "function_call", call_id: `fc_${t}`, name: "exec", arguments: "{}" });
      input.push({ type: "function_call_output", call_id: `fc_${t}`, output: `out ${t} ${words(60)}` });
    }
    const { result, out } = await trim(openAiResponses, { model: "gpt-5", input }, 2000);
    expect(result.fits).toBe(true);
    expect(result.droppedItems).toBeGreaterThan(0);
    const kept = out.input as Array<Record<string, unknown>>;
    kept.forEach((item, i) => {
      if (item.type === "function_call_output")
        expect(kept[i - 1]).toMatchObject({ type: "function_call", call_id: item.call_id });
      if (item.type === "function_call") expect(kept[i - 1]?.type).toBe("reasoning");
    });
    expect(kept[0]).toEqual(input[0]);
  });

  describe("as OpenClaw sends them (an internal-context user message closes every request after a tool result)", () => {
    const INTERNAL =
      "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>> runtime notes <<<END_OPENCLAW_INTERNAL_CONTEXT>>>";

    it("chat: keeps the question, its tool call, the (spilled) result and the note; drops older turns", async () => {
      const body = chat(10);
      body.messages.push(
        { role: "user", content: "why does the build fail?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "call_now", type: "function", function: { name: "exec", arguments: '{"command":"make"}' } },
          ],
        },
        { role: "tool", tool_call_id: "call_now", content: words(20_000, "log") },
        { role: "user", content: INTERNAL },
      );
      const { result, out } = await trim(openAiChat, body, 2500);
      expect(result.fits).toBe(true);
      expect(result.droppedItems).toBeGreaterThan(0);
      const messages = out.messages as Array<Record<string, unknown>>;
      expect(messages.slice(-4).map((m) => m.role)).toEqual(["user", "assistant", "tool", "user"]);
      expect(messages.at(-4)?.content).toBe("why does the build fail?");
      expect(messages.at(-2)?.content).toBe("[saved as SPILL1]");
      expect(messages.at(-1)?.content).toBe(INTERNAL);
      expectPairsIntact(messages);
    });

    it("anthropic: a breakpoint on the newest tool result does not pin the history before it", async () => {
      const ephemeral = { type: "ephemeral" };
      const messages: unknown[] = [
        { role: "user", content: [{ type: "text", text: "hello", cache_control: ephemeral }] },
      ];
      for (let t = 0; t < 10; t++) {
        messages.push({ role: "assistant", content: [{ type: "text", text: `reply ${t} ${words(80)}` }] });
        messages.push({ role: "user", content: `question ${t} ${words(80)}` });
      }
      messages.push(
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "tu_now", name: "exec", input: { command: "make" } }],
        },
        {
          role: "user",
          content: [
            {
              type: "tool_result",
              tool_use_id: "tu_now",
              content: words(20_000, "log"),
              cache_control: ephemeral,
            },
          ],
        },
        { role: "user", content: INTERNAL },
      );
      const body = {
        model: "claude-sonnet-4-5",
        max_tokens: 1024,
        system: [{ type: "text", text: SYSTEM, cache_control: ephemeral }],
        tools: [{ name: "exec", input_schema: { type: "object" }, cache_control: ephemeral }],
        messages,
      };
      const { result, out } = await trim(anthropicMessages, body, 2500);
      expect(result.fits).toBe(true);
      expect(result.spilled).toHaveLength(1);
      expect(result.droppedItems).toBeGreaterThan(0);
      const kept = out.messages as Array<{ role: string; content: unknown }>;
      expect(kept[0]).toEqual(messages[0]); // the first breakpoint: the stable prefix
      expect(kept.at(-4)?.content).toBe(`question 9 ${words(80)}`);
      expect(kept.at(-1)?.content).toBe(INTERNAL);
    });
  });
});

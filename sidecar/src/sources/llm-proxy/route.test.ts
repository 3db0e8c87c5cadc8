import { describe, expect, it } from "vitest";
import type { Provider } from "./providers.ts";
import { FAMILIES } from "./providers.ts";
import { routeOf } from "./route.ts";

const provider = (upstream: string): Provider => ({
  id: "openai",
  family: FAMILIES["openai-completions"],
  upstream: new URL(upstream),
  models: new Map(),
});
const providers = new Map([["openai", provider("https://api.example.com/v1/")]]);

describe("routeOf", () => {
  it.each([
    ["/llm/openai/chat/completions", "/v1/chat/completions"],
    ["/llm/openai/models", "/v1/models"],
    ["/llm/openai/chat/completions?api-version=2024-10-21", "/v1/chat/completions?api-version=2024-10-21"],
    ["/llm/openai/models/gemini-2.5-pro:generateContent", "/v1/models/gemini-2.5-pro:generateContent"],
    [
      "/llm/openai/publishers/anthropic/models/claude-3-5-sonnet@20240620:rawPredict",
      "/v1/publishers/anthropic/models/claude-3-5-sonnet@20240620:rawPredict",
    ],
    ["/llm/openai/files/file%20id", "/v1/files/file%20id"],
    ["/llm/openai", "/v1/"],
  ])("%s goes to the upstream's origin at %s", (url, target) => {
    const route = routeOf(url, providers);
    expect(route).toMatchObject({ origin: "https://api.example.com", target });
  });

  // Each of these, resolved as a URL against the upstream, would leave its origin or base path.
  it.each([
    "/llm/openai/http://127.0.0.1:9/x",
    "/llm/openai/HTTP://127.0.0.1:9/x",
    "/llm/openai/https:/evil.example/x",
    "/llm/openai//evil.example/x",
    "/llm/openai///evil.example:8080/x",
    "/llm/openai/\\\\evil.example\\x",
    "/llm/openai/%5c%5cevil.example/x",
    "/llm/openai/%2f%2fevil.example/x",
    "/llm/openai/%2F%2Fevil.example/x",
    "/llm/openai/../../admin",
    "/llm/openai/chat/../../admin",
    "/llm/openai/%2e%2e/admin",
    "/llm/openai/.%2e/admin",
    "/llm/openai/./models",
    "/llm/openai/user:pass@evil.example/x",
    "/llm/openai/evil.example@/x",
    "/llm/openai/chat//completions",
    "/llm/openai/chat/completions%00",
    "/llm/openai/chat/completions%zz",
    "/llm/openai/chat/completions#frag",
    "/llm/openai/chat/completions?x=1#frag",
    "/llm/openai/..;/admin",
    "/llm/openai/x;/..;/y",
    "/llm/openai/%252e%252e/admin",
    "/llm/openai/%c0%ae%c0%ae/admin",
    "/llm/openai/%e0%80%ae/admin",
  ])("refuses %s with 400", (url) => {
    const route = routeOf(url, providers);
    expect(route).toMatchObject({ status: 400 });
    expect((route as { message: string }).message).toMatch(/^clawguard: path refused: /);
  });

  it("names the configured providers for an unknown one", () => {
    expect(routeOf("/llm/nope/chat", providers)).toMatchObject({ status: 404, message: /providers: openai/ });
    expect(routeOf("/llm/%zz/chat", providers)).toMatchObject({ status: 404 });
    expect(routeOf("/v1/chat", providers)).toMatchObject({ status: 404 });
  });

  it("keeps the upstream's base path whatever its depth", () => {
    const deep = new Map([["openai", provider("https://gw.example.com/openai/deployments/x/")]]);
    expect(routeOf("/llm/openai/chat/completions", deep)).toMatchObject({
      origin: "https://gw.example.com",
      target: "/openai/deployments/x/chat/completions",
    });
  });
});

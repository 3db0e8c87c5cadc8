import { describe, expect, it } from "vitest";
import { describeError } from "./errors.ts";

describe("describeError", () => {
  it("chains the causes' words, each once", () => {
    const inner = new Error("listen EADDRINUSE: address already in use 127.0.0.1:1");
    const outer = new Error(`api: failed to start: ${inner.message}`, { cause: inner });
    expect(describeError(outer)).toBe(
      "api: failed to start: listen EADDRINUSE: address already in use 127.0.0.1:1",
    );
    const plain = new Error("cannot open the store", { cause: new Error("ENOSPC") });
    expect(describeError(plain)).toBe("cannot open the store: ENOSPC");
  });
});

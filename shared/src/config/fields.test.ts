import { describe, expect, it } from "vitest";
import { listen, parseListen } from "./fields.ts";

describe("listen", () => {
  const messages = (value: unknown) => listen.safeParse(value).error?.issues.map((i) => i.message) ?? [];

  it("accepts host:port, IPv6 in brackets, and port 0", () => {
    expect(messages("127.0.0.1:18800")).toEqual([]);
    expect(messages("[::1]:0")).toEqual([]);
    expect(parseListen("[::1]:18801")).toEqual({ host: "::1", port: 18801 });
  });

  it("gives one message per wrong value", () => {
    expect(messages("nowhere")).toEqual(['expected "host:port", e.g. "127.0.0.1:18800"']);
    expect(messages("127.0.0.1:99999")).toEqual(["port must be 0-65535"]);
    expect(messages(18800)).toHaveLength(1);
  });
});

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { draftEvent } from "@clawguard/shared/events/envelope";
import { ulid } from "@clawguard/shared/ids";
import { tempDir } from "@clawguard/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dropReserved, RESERVED_DRAFT_BYTES, reserveDraft } from "./drop.ts";

const source = { agent: "main", role: "agent", host: "h" };
let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("clawguard-drop-");
});
afterEach(() => tmp.cleanup());

describe("an outcome's reserved room", () => {
  it("is written in place and renamed into the inbox: the same file, the draft whole", () => {
    const dir = join(tmp.path, "inbox");
    const run = ulid();
    const reserved = reserveDraft(dir, run);
    expect(statSync(reserved).size).toBe(RESERVED_DRAFT_BYTES);
    const inode = statSync(reserved).ino;
    const draft = draftEvent({ source, type: "exec.completed", attrs: { run_id: run, exit_code: 0 } });
    const path = dropReserved(reserved, draft);
    expect(readdirSync(dir)).toEqual([`${draft.id}.json`]);
    expect(statSync(path).ino).toBe(inode);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(draft);
  });

  it("a draft bigger than its room, or a room gone, is written anew", () => {
    const dir = join(tmp.path, "inbox");
    const big = draftEvent({
      source,
      type: "exec.completed",
      attrs: { pad: "x".repeat(RESERVED_DRAFT_BYTES) },
    });
    const path = dropReserved(reserveDraft(dir, ulid()), big);
    expect(readdirSync(dir)).toEqual([`${big.id}.json`]);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(big);
    const gone = draftEvent({ source, type: "exec.completed" });
    dropReserved(join(dir, `.reserved-${ulid()}.tmp`), gone);
    expect(readdirSync(dir).sort()).toEqual([`${big.id}.json`, `${gone.id}.json`].sort());
  });
});

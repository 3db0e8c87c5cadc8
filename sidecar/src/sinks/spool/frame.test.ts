import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { encodeFrame, FRAME_HEADER, MAGIC, MAX_PAYLOAD, scanFrames } from "./frame.ts";

const payloads = (n: number) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ i, text: "é".repeat(i) }));
const decode = (buf: Buffer) => scanFrames(buf).frames.map((f) => f.payload.toString("utf8"));

describe("encodeFrame", () => {
  it("writes MAGIC | length | crc32 | payload", () => {
    const frame = encodeFrame('{"a":"é"}');
    expect(frame.readUInt32LE(0)).toBe(MAGIC);
    expect(frame.subarray(0, 4).toString("latin1")).toBe("CGS1");
    expect(frame.readUInt32LE(4)).toBe(Buffer.byteLength('{"a":"é"}'));
    expect(frame.length).toBe(FRAME_HEADER + Buffer.byteLength('{"a":"é"}'));
    expect(frame.subarray(FRAME_HEADER).toString("utf8")).toBe('{"a":"é"}');
  });
});

describe("scanFrames", () => {
  it("reads back every frame in order, with offsets and lengths", () => {
    const items = payloads(20);
    const frames = items.map(encodeFrame);
    const scan = scanFrames(Buffer.concat(frames));
    expect(scan.corrupt).toEqual([]);
    expect(scan.tornTail).toBe(false);
    expect(scan.frames.map((f) => f.payload.toString("utf8"))).toEqual(items);
    let offset = 0;
    scan.frames.forEach((f, i) => {
      expect(f.offset).toBe(offset);
      expect(f.length).toBe(frames[i]?.length);
      offset += f.length;
    });
  });

  it("accepts an empty buffer and an empty payload", () => {
    expect(scanFrames(Buffer.alloc(0))).toEqual({ frames: [], corrupt: [], tornTail: false });
    expect(decode(encodeFrame(""))).toEqual([""]);
  });

  it("reports a truncated last frame as a torn tail at every cut point", () => {
    const items = payloads(3);
    const whole = Buffer.concat(items.map(encodeFrame));
    const lastStart = whole.length - encodeFrame(items[2] as string).length;
    for (let cut = lastStart + 1; cut < whole.length; cut++) {
      const scan = scanFrames(whole.subarray(0, cut));
      expect(scan.frames.map((f) => f.payload.toString())).toEqual(items.slice(0, 2));
      expect(scan.tornTail).toBe(true);
      expect(scan.corrupt).toEqual([
        {
          offset: lastStart,
          length: cut - lastStart,
          reason: cut - lastStart < FRAME_HEADER ? "truncated header" : "truncated payload",
        },
      ]);
    }
  });

  it("resynchronises after a corrupt frame in the middle", () => {
    const items = payloads(5);
    const frames = items.map(encodeFrame);
    const buf = Buffer.concat(frames);
    const third = (frames[0]?.length ?? 0) + (frames[1]?.length ?? 0);
    flip(buf, third + FRAME_HEADER + 1); // payload byte of frame 3
    const scan = scanFrames(buf);
    expect(scan.frames.map((f) => f.payload.toString())).toEqual([items[0], items[1], items[3], items[4]]);
    expect(scan.corrupt).toEqual([{ offset: third, length: frames[2]?.length, reason: "checksum mismatch" }]);
    expect(scan.tornTail).toBe(false);
  });

  it("names bad magic and implausible lengths, and skips garbage between frames", () => {
    const a = encodeFrame("a");
    const b = encodeFrame("b");
    const garbage = Buffer.from("not a frame at all");
    const scan = scanFrames(Buffer.concat([a, garbage, b]));
    expect(decode(Buffer.concat([a, garbage, b]))).toEqual(["a", "b"]);
    expect(scan.corrupt).toEqual([{ offset: a.length, length: garbage.length, reason: "bad magic" }]);

    const huge = Buffer.from(encodeFrame("c"));
    huge.writeUInt32LE(MAX_PAYLOAD + 1, 4);
    const scan2 = scanFrames(Buffer.concat([huge, b]));
    expect(scan2.corrupt[0]?.reason).toBe(`implausible length ${MAX_PAYLOAD + 1}`);
    expect(scan2.frames.map((f) => f.payload.toString())).toEqual(["b"]);
  });

  it("does not take a magic inside a payload for a frame", () => {
    // A payload that itself contains the magic bytes: the scan must not split it.
    const inner = encodeFrame("x").toString("latin1");
    const item = JSON.stringify({ inner });
    expect(decode(Buffer.concat([encodeFrame(item), encodeFrame("y")]))).toEqual([item, "y"]);
  });

  it("never throws on random bytes and accounts for every byte", () => {
    for (let round = 0; round < 50; round++) {
      const parts: Buffer[] = [];
      for (let i = 0; i < 6; i++) {
        parts.push(i % 2 === 0 ? encodeFrame(`frame ${round}.${i}`) : randomBytes((round * 7 + i) % 40));
      }
      const buf = Buffer.concat(parts);
      const scan = scanFrames(buf);
      expect(scan.frames.map((f) => f.payload.toString())).toEqual([
        `frame ${round}.0`,
        `frame ${round}.2`,
        `frame ${round}.4`,
      ]);
      const covered = [...scan.frames, ...scan.corrupt].reduce((sum, r) => sum + r.length, 0);
      expect(covered).toBe(buf.length);
    }
  });
});

/** Inverts one byte of a buffer in place. */
function flip(buf: Buffer, at: number): void {
  buf[at] = (buf[at] as number) ^ 0xff;
}

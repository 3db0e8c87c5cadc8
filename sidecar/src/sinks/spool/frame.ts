import { crc32 } from "node:zlib";

/**
 * One spool record on disk: MAGIC | length u32 LE | crc32(payload) u32 LE | payload (JSON, UTF-8).
 * The magic lets a scan resynchronise after a corrupt record instead of losing the rest of a segment.
 */
export const MAGIC = 0x31534743; // "CGS1" read as little-endian
export const FRAME_HEADER = 12;
export const MAX_PAYLOAD = 16 * 1024 * 1024;

export function encodeFrame(payload: string): Buffer {
  const body = Buffer.from(payload, "utf8");
  const frame = Buffer.allocUnsafe(FRAME_HEADER + body.length);
  frame.writeUInt32LE(MAGIC, 0);
  frame.writeUInt32LE(body.length, 4);
  frame.writeUInt32LE(crc32(body), 8);
  body.copy(frame, FRAME_HEADER);
  return frame;
}

export interface ScannedFrame {
  offset: number;
  length: number;
  payload: Buffer;
}

export interface CorruptRange {
  offset: number;
  length: number;
  reason: string;
}

export interface Scan {
  frames: ScannedFrame[];
  corrupt: CorruptRange[];
  /** True when the bad bytes run to the end of the buffer: a torn write, typically after kill -9. */
  tornTail: boolean;
}

function frameAt(buf: Buffer, offset: number): { ok: true; length: number } | { ok: false; reason: string } {
  if (offset + FRAME_HEADER > buf.length) return { ok: false, reason: "truncated header" };
  if (buf.readUInt32LE(offset) !== MAGIC) return { ok: false, reason: "bad magic" };
  const length = buf.readUInt32LE(offset + 4);
  if (length > MAX_PAYLOAD) return { ok: false, reason: `implausible length ${length}` };
  if (offset + FRAME_HEADER + length > buf.length) return { ok: false, reason: "truncated payload" };
  const payload = buf.subarray(offset + FRAME_HEADER, offset + FRAME_HEADER + length);
  if (crc32(payload) !== buf.readUInt32LE(offset + 8)) return { ok: false, reason: "checksum mismatch" };
  return { ok: true, length: FRAME_HEADER + length };
}

/** Reads every valid frame of a buffer; bad stretches are reported, and the scan resumes at the next magic. */
export function scanFrames(buf: Buffer): Scan {
  const frames: ScannedFrame[] = [];
  const corrupt: CorruptRange[] = [];
  let offset = 0;
  let tornTail = false;
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(MAGIC, 0);
  while (offset < buf.length) {
    const at = frameAt(buf, offset);
    if (at.ok) {
      frames.push({
        offset,
        length: at.length,
        payload: buf.subarray(offset + FRAME_HEADER, offset + at.length),
      });
      offset += at.length;
      continue;
    }
    // Find the next frame that checks out; everything before it is corrupt.
    let next = buf.indexOf(magic, offset + 1);
    while (next !== -1 && !frameAt(buf, next).ok) next = buf.indexOf(magic, next + 1);
    const end = next === -1 ? buf.length : next;
    corrupt.push({ offset, length: end - offset, reason: at.reason });
    if (next === -1) tornTail = true;
    offset = end;
  }
  return { frames, corrupt, tornTail };
}

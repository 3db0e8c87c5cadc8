import { ClawguardError } from "@clawguard/shared/errors";

/** An opaque page cursor: the (time, id) of the last row returned, time as the database wrote it. */
export function encodeCursor(time: string, id: string): string {
  return Buffer.from(JSON.stringify([time, id])).toString("base64url");
}

/** The (time, id) of a cursor; `time` must pass `isTime` when given, so SQL never sees a bad one. */
export function decodeCursor(
  cursor: string,
  isTime: (time: string) => boolean = () => true,
): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      value.every((v) => typeof v === "string") &&
      isTime(value[0] as string)
    )
      return value as [string, string];
  } catch {
    // fall through
  }
  throw new ClawguardError("input.invalid", "cursor: not a cursor this API returned");
}

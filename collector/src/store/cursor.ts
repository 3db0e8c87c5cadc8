import { ClawguardError } from "@clawguard/shared/errors";
import { storableProblem, timeProblem } from "@clawguard/shared/events/bounds";

/**
 * Whether a cursor's time (as the database wrote it, or ISO) is a real one PostgreSQL takes back: a
 * real date in range and an offset under 16 hours. A forged cursor must be a 400, not a query error.
 */
function realTime(time: string): boolean {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?(?:Z|([+-])(\d{2})(?::?(\d{2}))?)?$/.exec(
    time,
  );
  if (!m || timeProblem(`${m[1]}T${m[2]}Z`) !== undefined) return false;
  return m[4] === undefined || (Number(m[4]) <= 15 && Number(m[5] ?? 0) <= 59);
}

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
      isTime(value[0] as string) &&
      realTime(value[0] as string) &&
      (value[1] as string).length <= 128 &&
      storableProblem(value[1] as string) === undefined
    )
      return value as [string, string];
  } catch {
    // fall through
  }
  throw new ClawguardError("input.invalid", "cursor: not a cursor this API returned");
}

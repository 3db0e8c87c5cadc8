/**
 * `date.toISOString()`, the same string, from the UTC fields. V8's toISOString goes through its date
 * cache, which loads ICU's time zone data: ~8 MB more resident memory in a short-lived process
 * such as the agent-side `clawguard exec`. Years outside 0..9999 and invalid dates are left to it.
 */
export function isoTime(date: Date): string {
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return date.toISOString();
  const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);
  const ms = date.getUTCMilliseconds();
  return `${String(year).padStart(4, "0")}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}T${two(
    date.getUTCHours(),
  )}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}.${ms < 10 ? "00" : ms < 100 ? "0" : ""}${ms}Z`;
}

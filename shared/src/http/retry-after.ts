/**
 * A Retry-After header as milliseconds from `now`, in either form RFC 9110 allows: delta-seconds
 * ("120") or an HTTP-date (IMF-fixdate "Mon, 07 Dec 2026 08:00:30 GMT", and the obsolete RFC 850
 * and asctime forms a recipient must also read), a date in the past being 0. Undefined when absent
 * or neither.
 */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = httpDate(value);
  return at === undefined ? undefined : Math.max(0, at - now);
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const TIME = "(?<h>\\d{2}):(?<mi>\\d{2}):(?<s>\\d{2})";
const HTTP_DATES = [
  // IMF-fixdate: Mon, 07 Dec 2026 08:00:30 GMT
  new RegExp(`^[a-z]{3}, (?<d>\\d{2}) (?<mon>[a-z]{3}) (?<y>\\d{4}) ${TIME} gmt$`, "i"),
  // RFC 850: Monday, 07-Dec-26 08:00:30 GMT (a two-digit year: this century)
  new RegExp(`^[a-z]+, (?<d>\\d{2})-(?<mon>[a-z]{3})-(?<y>\\d{2}) ${TIME} gmt$`, "i"),
  // asctime: Mon Dec  7 08:00:30 2026
  new RegExp(`^[a-z]{3} (?<mon>[a-z]{3}) {1,2}(?<d>\\d{1,2}) ${TIME} (?<y>\\d{4})$`, "i"),
];

/** An HTTP-date (always GMT) as ms since the epoch; undefined when it is none. */
function httpDate(value: string): number | undefined {
  for (const re of HTTP_DATES) {
    const g = re.exec(value)?.groups;
    if (!g) continue;
    const month = MONTHS.indexOf((g.mon as string).toLowerCase());
    if (month < 0) return undefined;
    const year = (g.y as string).length === 2 ? 2000 + Number(g.y) : Number(g.y);
    return Date.UTC(year, month, Number(g.d), Number(g.h), Number(g.mi), Number(g.s));
  }
  return undefined;
}

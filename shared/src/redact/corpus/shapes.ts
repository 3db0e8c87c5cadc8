import type { Gen } from "./random.ts";

const camel = (key: string) => key.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

export interface Shape {
  name: string;
  /** Takes a value that spans lines. */
  multiline?: boolean;
  /** Names the value (keyed families can be placed here). */
  named: boolean;
  place(r: Gen, key: string, value: string): string;
}

export const TS = "2026-12-07T01:02:03.456Z";

export const SHAPES: readonly Shape[] = [
  {
    name: "log",
    named: false,
    multiline: true,
    place: (r, _k, value) =>
      r.pick([
        `${TS} INFO  worker[4211]: retrying upload with ${value} (attempt 2/5)`,
        `[${TS}] DEBUG loaded credentials ${value} from cache`,
        `W1207 01:02:03.456789   4211 client.go:88] request failed, creds=${value}`,
        `${value}`,
      ]),
  },
  { name: "env", named: true, place: (_r, key, value) => `${key}=${value}` },
  {
    name: "json",
    named: true,
    multiline: true,
    place: (r, key, value) =>
      r.pick([
        `{"${key.toLowerCase()}": ${JSON.stringify(value)}, "region": "eu-west-1"}`,
        `  "${camel(key)}": ${JSON.stringify(value)},`,
      ]),
  },
  {
    name: "yaml",
    named: true,
    place: (r, key, value) =>
      r.pick([`  ${key.toLowerCase()}: ${value}`, `${camel(key)}: "${value}"`, `    - ${key}=${value}`]),
  },
  {
    name: "curl",
    named: true,
    place: (r, key, value) =>
      value.startsWith("curl ")
        ? value
        : r.pick([
            `curl -sS -H "Authorization: Bearer ${value}" https://api.example.com/v1/items`,
            `curl -X POST https://api.example.com/v1/send -H 'X-${key.replace(/_/g, "-")}: ${value}' -d @body.json`,
            `curl -s "https://api.example.com/v1/items?${key.toLowerCase()}=${value}"`,
          ]),
  },
  {
    name: "url",
    named: true,
    place: (r, key, value) =>
      /^[a-z0-9+]+:\/\//.test(value)
        ? r.pick([`remote: ${value}`, `fetching ${value} ...`, `origin\t${value} (fetch)`])
        : r.pick([
            `GET https://api.example.com/v2/export?${key.toLowerCase()}=${value}&format=csv 200 41ms`,
            `redirect to https://app.example.com/callback#access_token=${value}&token_type=bearer`,
          ]),
  },
  {
    name: "header",
    named: true,
    place: (r, key, value) =>
      value.startsWith("Authorization:")
        ? `> ${value}`
        : r.pick([
            `Authorization: Bearer ${value}`,
            `X-${key.replace(/_/g, "-")}: ${value}`,
            `< Set-Cookie: session_token=${value}; Path=/; HttpOnly`,
          ]),
  },
  {
    name: "export",
    named: true,
    place: (r, key, value) =>
      r.pick([`export ${key}="${value}"`, `export ${key}='${value}'`, `declare -x ${key}="${value}"`]),
  },
  {
    name: "python",
    named: true,
    place: (r, key, value) =>
      r.pick([
        `${key.toLowerCase()} = "${value}"`,
        `    client = Client(${key.toLowerCase().replace(/.*_/, "api_")}="${value}", timeout=30)`,
        `os.environ["${key}"] = '${value}'`,
      ]),
  },
  {
    name: "js",
    named: true,
    place: (r, key, value) =>
      r.pick([
        `const ${camel(key)} = "${value}";`,
        `  ${camel(key)}: '${value}',`,
        `process.env.${key} = \`${value}\`;`,
      ]),
  },
  {
    name: "csv",
    named: false,
    place: (r, _k, value) =>
      r.pick([`42,deploy-bot,${value},2026-12-01T10:00:00Z`, `"svc-${r.int(99)}","${value}","active"`]),
  },
];

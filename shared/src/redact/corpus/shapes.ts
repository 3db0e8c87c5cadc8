import { hexDumpShape } from "./hexdump.ts";
import type { Gen } from "./random.ts";

const camel = (key: string) => key.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** A line and the parts of it that must not survive, when the shape encodes the secret. */
export interface Placed {
  text: string;
  secrets: string[];
}

export interface Shape {
  name: string;
  /** Takes a value that spans lines. */
  multiline?: boolean;
  /** Names the value (keyed families can be placed here). */
  named: boolean;
  /** Glues the value to the word before it: only families whose prefix needs no boundary. */
  glued?: boolean;
  /** A line of a file's own format (a .pgpass line): only families that name this shape. */
  file?: boolean;
  /** The text, or the text and its secrets as they appear in it when the shape encodes them. */
  place(r: Gen, key: string, value: string, secrets: readonly string[]): string | Placed;
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
    name: "glued",
    named: false,
    glued: true,
    place: (r, _k, value) =>
      r.pick([`xtoken_${value}`, `key${value}`, `foo_${value} ok`, `${TS} cfg.auth_${value}`]),
  },
  {
    name: "urlencoded",
    named: true,
    multiline: true,
    place: (r, key, value, secrets) => {
      const e = encodeURIComponent(value);
      const name = key.toLowerCase();
      return {
        text: r.pick([
          `POST /oauth/token body: grant_type=password&username=bob&${name}=${e}`,
          `GET /login?next=%2Fhome%3F${name}%3D${e} 302 12ms`,
          `redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3Fstate%3Dxyz%26${name}%3D${e}`,
        ]),
        secrets: secrets.map(encodeURIComponent),
      };
    },
  },
  {
    name: "json-escaped",
    named: true,
    multiline: true,
    place: (r, key, value, secrets) => {
      // One level of JSON escaping, `/` as \u002F (what .NET and some loggers write).
      const esc = (s: string) =>
        s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\//g, "\\u002F").replace(/\n/g, "\\n");
      const e = esc(value);
      return {
        text: r.pick([
          `{"level":"info","msg":"{\\"${key.toLowerCase()}\\":\\"${e}\\"}"}`,
          `  "payload": "{\\"${camel(key)}\\": \\"${e}\\", \\"ok\\": true}",`,
        ]),
        secrets: secrets.map(esc),
      };
    },
  },
  {
    name: "k8s-secret",
    named: true,
    multiline: true,
    place: (r, key, value) => {
      const b64 = Buffer.from(value).toString("base64");
      return { text: r.pick([`  ${key}: ${b64}`, `    "${key}": "${b64}",`]), secrets: [b64] };
    },
  },
  {
    name: "xml",
    named: true,
    place: (r, key, value) =>
      r.pick([
        `    <add key="${camel(key)}" value="${value}" />`,
        `  <${camel(key)}>${value}</${camel(key)}>`,
        `<env name="${key}" value="${value}"/>`,
      ]),
  },
  {
    name: "yaml-block",
    named: true,
    multiline: true,
    place: (r, key, value) => {
      const indent = r.pick(["", "  "]);
      const body = value
        .split("\n")
        .map((line) => `${indent}  ${line}`)
        .join("\n");
      return `${indent}${r.pick([key.toLowerCase(), camel(key)])}: ${r.pick(["|", "|-", ">"])}\n${body}\n${indent}other: 1`;
    },
  },
  {
    name: "hexdump",
    named: true,
    multiline: true,
    place: (r, key, value, secrets) => hexDumpShape(r, `${key}=${value}`, secrets),
  },
  {
    name: "ansi",
    named: false,
    // Coloured output (ls --color, jq -C, a logger's levels): the value right after a colour code.
    place: (r, _k, value) =>
      r.pick([
        `\x1b[32m${value}\x1b[0m`,
        `\x1b[1;33mWARN\x1b[0m key \x1b[36m${value}\x1b[39m`,
        `"\x1b[0;32m${value}\x1b[0m",`,
      ]),
  },
  { name: "file", named: false, file: true, place: (_r, _k, value) => value },
  {
    name: "csv",
    named: false,
    place: (r, _k, value) =>
      r.pick([`42,deploy-bot,${value},2026-12-01T10:00:00Z`, `"svc-${r.int(99)}","${value}","active"`]),
  },
];

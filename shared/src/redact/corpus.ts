/**
 * A generator of fresh secrets in the formats their issuers use, placed in the kinds of line that
 * commands print, and of ordinary lines that must come through untouched. It measures the redactor
 * (tests and `pnpm bench`); nothing in production imports it.
 *
 * Every secret is made anew from a seeded generator (the seed is printed by whoever reports a miss),
 * with the issuer's prefix, length, alphabet and, where the format has one, checksum.
 */

/** A small, fast, seedable generator (mulberry32): the same seed makes the same corpus. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const ALNUM = UPPER + LOWER + DIGITS;
const HEX = "0123456789abcdef";
const B64 = `${ALNUM}+/`;
const B64URL = `${ALNUM}-_`;
const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = (CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Base62 of a 32-bit number, left-padded to 6 characters (GitHub's and npm's token checksum). */
export function base62Checksum(n: number): string {
  const digits = `${DIGITS}${UPPER}${LOWER}`;
  let out = "";
  let v = n;
  while (v > 0) {
    out = digits[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out.padStart(6, "0");
}

export interface Sample {
  family: string;
  shape: string;
  /** The text as a command would print it (one line, or a few for a PEM block). */
  text: string;
  /** Parts that must not survive redaction. */
  secrets: string[];
}

interface Made {
  /** What is placed in the line. */
  value: string;
  /** What must not survive (defaults to the value itself). */
  secrets?: string[];
}

interface Family {
  name: string;
  /** The variable name it is usually kept under (KEY=value, JSON, YAML, source). */
  key: string;
  /** Needs a name before it to be known (no issuer prefix): not placed in plain log or CSV lines. */
  keyed?: boolean;
  /** The value spans lines (a PEM block): placed only where a block can stand. */
  multiline?: boolean;
  make(r: Gen): Made;
}

class Gen {
  readonly next: () => number;
  constructor(next: () => number) {
    this.next = next;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  str(alphabet: string, length: number): string {
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
  word(): string {
    return this.pick(["alice", "deploy", "svc_app", "admin", "ci-bot", "reporting", "backup", "grafana"]);
  }
  /** A password as a password manager makes one. */
  password(): string {
    return this.str(`${ALNUM}!#%^*_-.~`, 12 + this.int(14)) + this.pick(DIGITS.split(""));
  }
  host(): string {
    return this.pick([
      "db.internal.example.com",
      "10.20.3.4",
      "prod-cache.abc123.ng.0001.use1.cache.amazonaws.com",
      "cluster0.x1y2z.mongodb.net",
      "rabbit.svc.cluster.local",
      "localhost",
    ]);
  }
}

const v = (value: string, secrets?: string[]): Made => (secrets ? { value, secrets } : { value });

function githubStyle(prefix: string, r: Gen): Made {
  const body = r.str(ALNUM, 30);
  return v(`${prefix}${body}${base62Checksum(crc32(body))}`);
}

function jwt(r: Gen): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const header = enc({ alg: r.pick(["HS256", "RS256", "ES256"]), typ: "JWT" });
  const payload = enc({ sub: r.str(ALNUM, 12), iat: 1765000000 + r.int(1e6), scope: "read write" });
  return `${header}.${payload}.${r.str(B64URL, 43)}`;
}

function pem(r: Gen, kind: string): Made {
  const body: string[] = [];
  const lines = 6 + r.int(20);
  for (let i = 0; i < lines; i++) body.push(r.str(B64, 64));
  body.push(`${r.str(B64, 20 + r.int(40))}==`);
  const label = `${kind}PRIVATE KEY`;
  return v(`-----BEGIN ${label}-----\n${body.join("\n")}\n-----END ${label}-----`, body.slice(0, 3));
}

function urlCredential(r: Gen, scheme: string, port: number, path: string): Made {
  const password = r.password().replace(/[@:/?#%]/g, "x");
  return v(`${scheme}://${r.word()}:${password}@${r.host()}:${port}${path}`, [password]);
}

export const FAMILIES: readonly Family[] = [
  { name: "github-pat", key: "GITHUB_TOKEN", make: (r) => githubStyle("ghp_", r) },
  { name: "github-oauth", key: "GH_OAUTH_TOKEN", make: (r) => githubStyle("gho_", r) },
  { name: "github-app", key: "GITHUB_APP_TOKEN", make: (r) => githubStyle(r.pick(["ghs_", "ghu_"]), r) },
  { name: "github-refresh", key: "GITHUB_REFRESH_TOKEN", make: (r) => githubStyle("ghr_", r) },
  {
    name: "github-fine-grained",
    key: "GITHUB_PAT",
    make: (r) => v(`github_pat_11${r.str(UPPER + DIGITS, 20)}_${r.str(ALNUM, 59)}`),
  },
  { name: "gitlab-pat", key: "GITLAB_TOKEN", make: (r) => v(`glpat-${r.str(B64URL, 20)}`) },
  {
    name: "gitlab-other",
    key: "CI_RUNNER_TOKEN",
    make: (r) => v(`${r.pick(["glrt-", "gldt-", "glptt-", "glcbt-", "glft-"])}${r.str(B64URL, 20)}`),
  },
  { name: "npm", key: "NPM_TOKEN", make: (r) => githubStyle("npm_", r) },
  {
    name: "pypi",
    key: "PYPI_TOKEN",
    make: (r) => v(`pypi-AgEIcHlwaS5vcmc${r.str(B64URL, 60 + r.int(120))}`),
  },
  { name: "huggingface", key: "HF_TOKEN", make: (r) => v(`hf_${r.str(UPPER + LOWER, 34)}`) },
  {
    name: "sendgrid",
    key: "SENDGRID_API_KEY",
    make: (r) => v(`SG.${r.str(B64URL, 22)}.${r.str(B64URL, 43)}`),
  },
  { name: "twilio-api-key", key: "TWILIO_API_KEY", make: (r) => v(`SK${r.str(HEX, 32)}`) },
  { name: "twilio-account", key: "TWILIO_ACCOUNT_SID", make: (r) => v(`AC${r.str(HEX, 32)}`) },
  {
    name: "stripe-secret",
    key: "STRIPE_SECRET_KEY",
    make: (r) => v(`${r.pick(["sk", "rk"])}_${r.pick(["live", "test"])}_${r.str(ALNUM, 24 + r.int(76))}`),
  },
  { name: "stripe-webhook", key: "STRIPE_WEBHOOK_SECRET", make: (r) => v(`whsec_${r.str(ALNUM, 32)}`) },
  {
    name: "slack-bot",
    key: "SLACK_BOT_TOKEN",
    make: (r) =>
      v(`xox${r.pick(["b", "p", "a", "e"])}-${r.str(DIGITS, 12)}-${r.str(DIGITS, 13)}-${r.str(ALNUM, 24)}`),
  },
  {
    name: "slack-app",
    key: "SLACK_APP_TOKEN",
    make: (r) => v(`xapp-1-A${r.str(UPPER + DIGITS, 10)}-${r.str(DIGITS, 13)}-${r.str(HEX, 64)}`),
  },
  {
    name: "slack-webhook",
    key: "SLACK_WEBHOOK_URL",
    make: (r) => {
      const secret = r.str(ALNUM, 24);
      return v(
        `https://hooks.slack.com/services/T${r.str(UPPER + DIGITS, 10)}/B${r.str(UPPER + DIGITS, 10)}/${secret}`,
        [secret],
      );
    },
  },
  {
    name: "aws-access-key",
    key: "AWS_ACCESS_KEY_ID",
    make: (r) => v(`${r.pick(["AKIA", "ASIA"])}${r.str("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)}`),
  },
  { name: "aws-secret-key", key: "AWS_SECRET_ACCESS_KEY", keyed: true, make: (r) => v(r.str(B64, 40)) },
  { name: "google-api-key", key: "GOOGLE_API_KEY", make: (r) => v(`AIza${r.str(B64URL, 35)}`) },
  { name: "google-oauth-secret", key: "GOOGLE_CLIENT_SECRET", make: (r) => v(`GOCSPX-${r.str(B64URL, 28)}`) },
  { name: "google-access-token", key: "GOOGLE_ACCESS_TOKEN", make: (r) => v(`ya29.${r.str(B64URL, 120)}`) },
  {
    name: "openai-project",
    key: "OPENAI_API_KEY",
    make: (r) => v(`sk-proj-${r.str(B64URL, 74)}T3BlbkFJ${r.str(B64URL, 74)}`),
  },
  {
    name: "openai-legacy",
    key: "OPENAI_API_KEY",
    make: (r) => v(`sk-${r.str(ALNUM, 20)}T3BlbkFJ${r.str(ALNUM, 20)}`),
  },
  {
    name: "openai-service",
    key: "OPENAI_ADMIN_KEY",
    make: (r) => v(`sk-${r.pick(["svcacct", "admin"])}-${r.str(B64URL, 64)}T3BlbkFJ${r.str(B64URL, 64)}`),
  },
  {
    name: "anthropic",
    key: "ANTHROPIC_API_KEY",
    make: (r) => v(`sk-ant-${r.pick(["api03", "admin01"])}-${r.str(B64URL, 93)}AA`),
  },
  {
    name: "shopify",
    key: "SHOPIFY_ACCESS_TOKEN",
    make: (r) => v(`shp${r.pick(["at", "ca", "pa", "ss"])}_${r.str(HEX, 32)}`),
  },
  {
    name: "digitalocean",
    key: "DIGITALOCEAN_TOKEN",
    make: (r) => v(`do${r.pick(["p", "o", "r"])}_v1_${r.str(HEX, 64)}`),
  },
  {
    name: "doppler",
    key: "DOPPLER_TOKEN",
    make: (r) => v(`dp.${r.pick(["pt", "st", "sa", "ct"])}.${r.str(ALNUM, 43)}`),
  },
  { name: "databricks", key: "DATABRICKS_TOKEN", make: (r) => v(`dapi${r.str(HEX, 32)}`) },
  { name: "linear", key: "LINEAR_API_KEY", make: (r) => v(`lin_api_${r.str(ALNUM, 40)}`) },
  { name: "postman", key: "POSTMAN_API_KEY", make: (r) => v(`PMAK-${r.str(HEX, 24)}-${r.str(HEX, 34)}`) },
  { name: "pulumi", key: "PULUMI_ACCESS_TOKEN", make: (r) => v(`pul-${r.str(HEX, 40)}`) },
  { name: "grafana-sa", key: "GRAFANA_TOKEN", make: (r) => v(`glsa_${r.str(ALNUM, 32)}_${r.str(HEX, 8)}`) },
  { name: "newrelic", key: "NEW_RELIC_API_KEY", make: (r) => v(`NRAK-${r.str(UPPER + DIGITS, 27)}`) },
  {
    name: "atlassian",
    key: "JIRA_API_TOKEN",
    make: (r) => v(`ATATT3xFfGF0${r.str(B64URL, 170)}=${r.str(HEX, 8).toUpperCase()}`),
  },
  {
    name: "age",
    key: "AGE_SECRET_KEY",
    make: (r) => v(`AGE-SECRET-KEY-1${r.str(BECH32, 58).toUpperCase()}`),
  },
  { name: "square", key: "SQUARE_ACCESS_TOKEN", make: (r) => v(`EAAA${r.str(B64URL, 60)}`) },
  { name: "mailgun", key: "MAILGUN_API_KEY", make: (r) => v(`key-${r.str(HEX, 32)}`) },
  { name: "mailchimp", key: "MAILCHIMP_API_KEY", make: (r) => v(`${r.str(HEX, 32)}-us${1 + r.int(20)}`) },
  {
    name: "telegram-bot",
    key: "TELEGRAM_BOT_TOKEN",
    make: (r) => v(`${1 + r.int(9)}${r.str(DIGITS, 9)}:AA${r.str(B64URL, 33)}`),
  },
  {
    name: "discord-bot",
    key: "DISCORD_BOT_TOKEN",
    make: (r) => v(`${r.pick(["M", "N"])}${r.str(ALNUM, 23)}.${r.str(B64URL, 6)}.${r.str(B64URL, 38)}`),
  },
  {
    name: "discord-webhook",
    key: "DISCORD_WEBHOOK",
    make: (r) => {
      const secret = r.str(B64URL, 68);
      return v(`https://discord.com/api/webhooks/${r.str(DIGITS, 18)}/${secret}`, [secret]);
    },
  },
  { name: "heroku", key: "HEROKU_API_KEY", make: (r) => v(`HRKU-AA${r.str(B64URL, 58)}`) },
  { name: "netlify", key: "NETLIFY_AUTH_TOKEN", make: (r) => v(`nfp_${r.str(ALNUM, 36)}`) },
  { name: "supabase", key: "SUPABASE_ACCESS_TOKEN", make: (r) => v(`sbp_${r.str(HEX, 40)}`) },
  {
    name: "vault",
    key: "VAULT_TOKEN",
    make: (r) => v(`hvs.${r.str(B64URL, 90 + r.int(30))}`),
  },
  {
    name: "terraform-cloud",
    key: "TFE_TOKEN",
    make: (r) => v(`${r.str(LOWER + DIGITS, 14)}.atlasv1.${r.str(LOWER + DIGITS, 67)}`),
  },
  {
    name: "dynatrace",
    key: "DT_API_TOKEN",
    make: (r) => v(`dt0c01.${r.str(UPPER + DIGITS, 24)}.${r.str(UPPER + DIGITS, 64)}`),
  },
  { name: "alibaba", key: "ALIBABA_ACCESS_KEY_ID", make: (r) => v(`LTAI${r.str(ALNUM, 20)}`) },
  {
    name: "azure-ad-secret",
    key: "AZURE_CLIENT_SECRET",
    make: (r) => v(`${r.str(ALNUM, 3)}${r.int(10)}Q~${r.str(`${ALNUM}_~.-`, 34)}`),
  },
  { name: "sentry-user", key: "SENTRY_AUTH_TOKEN", make: (r) => v(`sntryu_${r.str(HEX, 64)}`) },
  { name: "figma", key: "FIGMA_TOKEN", make: (r) => v(`figd_${r.str(B64URL, 40)}`) },
  { name: "notion", key: "NOTION_TOKEN", make: (r) => v(`ntn_${r.str(DIGITS, 11)}${r.str(ALNUM, 35)}`) },
  { name: "airtable", key: "AIRTABLE_TOKEN", make: (r) => v(`pat${r.str(ALNUM, 14)}.${r.str(HEX, 64)}`) },
  { name: "replicate", key: "REPLICATE_API_TOKEN", make: (r) => v(`r8_${r.str(ALNUM, 37)}`) },
  { name: "groq", key: "GROQ_API_KEY", make: (r) => v(`gsk_${r.str(ALNUM, 52)}`) },
  { name: "xai", key: "XAI_API_KEY", make: (r) => v(`xai-${r.str(ALNUM, 80)}`) },
  { name: "perplexity", key: "PPLX_API_KEY", make: (r) => v(`pplx-${r.str(ALNUM, 48)}`) },
  { name: "dockerhub", key: "DOCKERHUB_TOKEN", make: (r) => v(`dckr_pat_${r.str(B64URL, 27)}`) },
  { name: "rubygems", key: "GEM_HOST_API_KEY", make: (r) => v(`rubygems_${r.str(HEX, 48)}`) },
  { name: "planetscale", key: "PLANETSCALE_TOKEN", make: (r) => v(`pscale_tkn_${r.str(B64URL, 43)}`) },
  {
    name: "tailscale",
    key: "TS_AUTHKEY",
    make: (r) => v(`tskey-auth-${r.str(ALNUM, 17)}-${r.str(ALNUM, 33)}`),
  },
  { name: "sourcegraph", key: "SRC_ACCESS_TOKEN", make: (r) => v(`sgp_${r.str(HEX, 16)}_${r.str(HEX, 40)}`) },
  { name: "jwt", key: "SESSION_TOKEN", make: (r) => v(jwt(r)) },
  {
    name: "postgres-url",
    key: "DATABASE_URL",
    make: (r) => urlCredential(r, r.pick(["postgres", "postgresql"]), 5432, "/app?sslmode=require"),
  },
  { name: "mysql-url", key: "MYSQL_URL", make: (r) => urlCredential(r, "mysql", 3306, "/shop") },
  {
    name: "mongodb-url",
    key: "MONGODB_URI",
    make: (r) => urlCredential(r, "mongodb+srv", 27017, "/prod?retryWrites=true&w=majority"),
  },
  {
    name: "redis-url",
    key: "REDIS_URL",
    make: (r) => urlCredential(r, r.pick(["redis", "rediss"]), 6379, "/0"),
  },
  {
    name: "amqp-url",
    key: "AMQP_URL",
    make: (r) => urlCredential(r, r.pick(["amqp", "amqps"]), 5672, "/vhost"),
  },
  { name: "git-remote", key: "GIT_REMOTE", make: (r) => urlCredential(r, "https", 443, "/acme/app.git") },
  {
    name: "proxy-url",
    key: "HTTPS_PROXY",
    make: (r) => urlCredential(r, r.pick(["http", "socks5"]), 3128, ""),
  },
  {
    name: "basic-auth",
    key: "AUTH_HEADER",
    make: (r) => {
      const b64 = Buffer.from(`${r.word()}:${r.password()}`).toString("base64");
      return v(`Authorization: Basic ${b64}`, [b64]);
    },
  },
  {
    name: "curl-user",
    key: "CURL_CMD",
    make: (r) => {
      const password = r.password().replace(/['"\\$`]/g, "x");
      return v(
        `curl -s ${r.pick(["-u", "--user"])} ${r.word()}:${password} https://registry.example.com/v2/`,
        [password],
      );
    },
  },
  {
    name: "azure-storage",
    key: "AZURE_STORAGE_CONNECTION_STRING",
    make: (r) => {
      const key = `${r.str(B64, 86)}==`;
      return v(
        `DefaultEndpointsProtocol=https;AccountName=acme${r.str(LOWER, 6)};AccountKey=${key};EndpointSuffix=core.windows.net`,
        [key.slice(0, 40)],
      );
    },
  },
  {
    name: "azure-servicebus",
    key: "SERVICEBUS_CONNECTION",
    make: (r) => {
      const key = `${r.str(B64, 43)}=`;
      return v(
        `Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${key}`,
        [key.slice(0, 40)],
      );
    },
  },
  {
    name: "private-key",
    key: "PRIVATE_KEY",
    multiline: true,
    make: (r) => pem(r, r.pick(["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED ", "DSA "])),
  },
  {
    name: "generic-password",
    key: "DB_PASSWORD",
    keyed: true,
    make: (r) => v(r.password()),
  },
  { name: "generic-api-key", key: "DATADOG_API_KEY", keyed: true, make: (r) => v(r.str(HEX, 32)) },
  { name: "generic-secret", key: "CLIENT_SECRET", keyed: true, make: (r) => v(r.str(B64URL, 40)) },
  { name: "twilio-auth-token", key: "TWILIO_AUTH_TOKEN", keyed: true, make: (r) => v(r.str(HEX, 32)) },
];

const camel = (key: string) => key.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

interface Shape {
  name: string;
  /** Takes a value that spans lines. */
  multiline?: boolean;
  /** Names the value (keyed families can be placed here). */
  named: boolean;
  place(r: Gen, key: string, value: string): string;
}

const TS = "2026-12-07T01:02:03.456Z";

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

/** Every family in every shape it can stand in, `rounds` times over with fresh secrets. */
export function secretCorpus(seed: number, rounds = 1): Sample[] {
  const r = new Gen(seededRandom(seed));
  const out: Sample[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const family of FAMILIES) {
      for (const shape of SHAPES) {
        if (family.keyed && !shape.named) continue;
        if (family.multiline && !shape.multiline) continue;
        const made = family.make(r);
        out.push({
          family: family.name,
          shape: shape.name,
          text: shape.place(r, family.key, made.value),
          secrets: made.secrets ?? [made.value],
        });
      }
    }
  }
  return out;
}

const IDENTS = [
  "token",
  "password",
  "apiKey",
  "secret",
  "accessToken",
  "clientSecret",
  "authToken",
  "passwd",
];

/** Lines that commands and source files print every day and that hold no secret. */
export function ordinaryCorpus(seed: number, count: number): string[] {
  const r = new Gen(seededRandom(seed));
  const sha = (n: number) => r.str(HEX, n);
  const uuid = () => `${sha(8)}-${sha(4)}-4${sha(3)}-${r.pick(["8", "9", "a", "b"])}${sha(3)}-${sha(12)}`;
  const id = () => r.pick(IDENTS);
  const makers: (() => string)[] = [
    () => `commit ${sha(40)}`,
    () => `${sha(7)} fix(${r.word()}): handle empty ${id()} in the retry path`,
    () => `${sha(64)}  dist/app-${r.int(9)}.${r.int(20)}.${r.int(9)}.tar.gz`,
    () => `sha256:${sha(64)}`,
    () => `Digest: sha256:${sha(64)}`,
    () =>
      `${TS} INFO  request_id=${uuid()} method=GET path=/v1/items/${r.int(99999)} status=200 duration_ms=${r.int(900)}`,
    () => `${TS} WARN  ${id()} refresh failed for user ${uuid()}: 401 Unauthorized (will retry)`,
    () => `/home/${r.word()}/.cache/node/corepack/v1/pnpm/10.${r.int(30)}.${r.int(9)}/dist/pnpm.cjs`,
    () => `/var/lib/docker/overlay2/${sha(64)}/merged/usr/lib/x86_64-linux-gnu/libssl.so.3`,
    () =>
      `  at Object.<anonymous> (/app/node_modules/.pnpm/undici@8.${r.int(20)}.${r.int(9)}/node_modules/undici/lib/core/request.js:${r.int(900)}:${r.int(80)})`,
    () => `const ${id()} = req.headers.authorization;`,
    () => `  ${id()}: string;`,
    () => `  ${id()}?: string | undefined;`,
    () => `const ${id()} = process.env.${r.pick(["API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "SECRET"])};`,
    () => `${id()} = os.environ["${r.pick(["API_KEY", "GITHUB_TOKEN", "DB_PASSWORD"])}"]`,
    () => `  const value = await getSecret(name);`,
    () => `    ${id()}: options.${id()} ?? config.${id()},`,
    () =>
      `if (!${id()}) throw new Error("missing ${id()}: set ${r.pick(["GITHUB_TOKEN", "API_KEY"])} first");`,
    () => `export function verify${r.pick(["Token", "Password", "Secret"])}(${id()}: string): boolean {`,
    () => `${id()} = self._load_${id().toLowerCase()}(path)`,
    () => `password: \${DB_PASSWORD}`,
    () =>
      `  ${r.pick(["api_key", "token", "password"])}: \${{ secrets.${r.pick(["API_KEY", "NPM_TOKEN"])} }}`,
    () => `export ${r.pick(["GITHUB_TOKEN", "API_KEY", "DB_PASSWORD"])}="$(cat /run/secrets/${r.word()})"`,
    () => `${r.pick(["TOKEN_FILE", "PASSWORD_FILE"])}=/run/secrets/${r.word()}`,
    () =>
      `npm warn deprecated ${r.word()}@${r.int(9)}.${r.int(9)}.${r.int(9)}: this version is no longer supported`,
    () => `+ ${r.word()}-utils ${r.int(9)}.${r.int(20)}.${r.int(9)}`,
    () => `Progress: resolved ${r.int(900)}, reused ${r.int(900)}, downloaded 0, added ${r.int(900)}, done`,
    () => `drwxr-xr-x  ${r.int(9)} ${r.word()} staff  ${r.int(9999)} Dec  7 01:02 ${r.word()}`,
    () =>
      `tcp   LISTEN 0   511   127.0.0.1:${1024 + r.int(60000)}   0.0.0.0:*   users:(("node",pid=${r.int(99999)},fd=${r.int(40)}))`,
    () => `Run ${uuid()} finished in ${r.int(600)}s: ${r.int(900)} passed, 0 failed`,
    () => `Authorization: Bearer <your-token>`,
    () => `Usage: tool login --token TOKEN [--password-stdin]`,
    () => `  --password <value>   the password (prefer --password-file)`,
    () => `${id()}_hash = bcrypt.hash(${id()}, 12)`,
    () => `key=${r.word()} value=${r.int(99999)} ok=true`,
    () => `docker pull ghcr.io/${r.word()}/app@sha256:${sha(64)}`,
    () => `https://github.com/acme/${r.word()}/blob/${sha(40)}/src/index.ts#L${r.int(900)}`,
    () => `git clone https://github.com/acme/${r.word()}.git`,
    () => `postgres://localhost:5432/${r.word()}`,
    () => `etag: W/"${sha(32)}"`,
    () => `x-request-id: ${uuid()}`,
    () => `	modified:   ${r.word()}/src/${id()}-store.ts`,
  ];
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(r.pick(makers)());
  return out;
}

export interface RecallReport {
  total: number;
  caught: number;
  byShape: Record<string, { total: number; caught: number }>;
  byFamily: Record<string, { total: number; caught: number }>;
  /** The first few samples whose secret survived, for a failure message. */
  missed: Sample[];
}

/** A sample is caught when no part of its secret survives `redactor`. */
export function measureRecall(samples: readonly Sample[], redactor: (text: string) => string): RecallReport {
  const report: RecallReport = { total: 0, caught: 0, byShape: {}, byFamily: {}, missed: [] };
  for (const sample of samples) {
    const out = redactor(sample.text);
    const caught = sample.secrets.every((secret) => !out.includes(secret));
    report.total++;
    for (const [table, key] of [
      [report.byShape, sample.shape],
      [report.byFamily, sample.family],
    ] as const) {
      const row = table[key] ?? { total: 0, caught: 0 };
      row.total++;
      if (caught) row.caught++;
      table[key] = row;
    }
    if (caught) report.caught++;
    else if (report.missed.length < 20) report.missed.push(sample);
  }
  return report;
}

/** Lines that `redactor` leaves exactly as they were, and the first few it changed. */
export function measureUntouched(
  lines: readonly string[],
  redactor: (text: string) => string,
): { total: number; untouched: number; changed: { line: string; out: string }[] } {
  let untouched = 0;
  const changed: { line: string; out: string }[] = [];
  for (const line of lines) {
    const out = redactor(line);
    if (out === line) untouched++;
    else if (changed.length < 20) changed.push({ line, out });
  }
  return { total: lines.length, untouched, changed };
}

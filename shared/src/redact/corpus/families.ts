import {
  ALNUM,
  B64,
  B64URL,
  BECH32,
  base62Checksum,
  crc32,
  DIGITS,
  type Gen,
  HEX,
  LOWER,
  UPPER,
} from "./random.ts";

export interface Made {
  /** What is placed in the line. */
  value: string;
  /** What must not survive (defaults to the value itself). */
  secrets?: string[];
}

export interface Family {
  name: string;
  /** The variable name it is usually kept under (KEY=value, JSON, YAML, source). */
  key: string;
  /** Needs a name before it to be known (no issuer prefix): not placed in plain log or CSV lines. */
  keyed?: boolean;
  /** The value spans lines (a PEM block): placed only where a block can stand. */
  multiline?: boolean;
  /** Only these shapes of line (a file's own format: a .pgpass line is a whole line). */
  shapes?: readonly string[];
  /** The issuer's format needs a boundary before it (`SK` + 32 hex): not placed glued to a word. */
  bounded?: boolean;
  make(r: Gen): Made;
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
  const body = pemBody(r);
  const label = `${kind}PRIVATE KEY`;
  return v(`-----BEGIN ${label}-----\n${body.join("\n")}\n-----END ${label}-----`, body.slice(0, 3));
}

/** A PEM block's base64 body lines. */
function pemBody(r: Gen): string[] {
  const body: string[] = [];
  const lines = 6 + r.int(20);
  for (let i = 0; i < lines; i++) body.push(r.str(B64, 64));
  body.push(`${r.str(B64, 20 + r.int(40))}==`);
  return body;
}

/** A kubeconfig's client-key-data: a PEM private key, base64 as kubectl writes it (one line). */
function kubeKey(r: Gen): Made {
  const label = `${r.pick(["RSA ", "EC ", ""])}PRIVATE KEY`;
  const b64 = Buffer.from(
    `-----BEGIN ${label}-----\n${pemBody(r).join("\n")}\n-----END ${label}-----\n`,
  ).toString("base64");
  return v(b64, [b64.slice(0, 40), b64.slice(200, 240)]);
}

/** A password as a command line can take it unquoted (no shell metacharacters). */
const cliPassword = (r: Gen) => r.password().replace(/[!#^*~%]/g, "x");

/** A crypt(3) / htpasswd hash as Apache, glibc and bcrypt write them. */
function passwordHash(r: Gen): Made {
  const salt = r.str(`${ALNUM}./`, 8);
  const hash = r.pick([
    `$apr1$${salt}$${r.str(`${ALNUM}./`, 22)}`,
    `$6$${salt}$${r.str(`${ALNUM}./`, 86)}`,
    `$2y$10$${r.str(`${ALNUM}./`, 53)}`,
    `$5$${salt}$${r.str(`${ALNUM}./`, 43)}`,
  ]);
  return v(`${r.word()}:${hash}`, [hash.slice(-20)]);
}

function urlCredential(r: Gen, scheme: string, port: number, path: string): Made {
  const password = r.password().replace(/[@:/?#%]/g, "x");
  return v(`${scheme}://${r.word()}:${password}@${r.host()}:${port}${path}`, [password]);
}

/** A JWK private key as `jose`, Node's KeyObject.export and step print it (compact JSON). */
function jwk(r: Gen): Made {
  const part = (n: number) => r.str(B64URL, n);
  const rsa = r.int(2) === 0;
  const key = rsa
    ? {
        kty: "RSA",
        n: part(342),
        e: "AQAB",
        d: part(342),
        p: part(171),
        q: part(171),
        dp: part(171),
        dq: part(171),
        qi: part(171),
      }
    : { kty: "EC", crv: "P-256", x: part(43), y: part(43), d: part(43) };
  return v(JSON.stringify(key), rsa ? [key.d.slice(0, 40), (key as { p: string }).p.slice(0, 40)] : [key.d]);
}

/** A PuTTY .ppk file (version 3, unencrypted): its Private-Lines are the key. */
function ppk(r: Gen): Made {
  const priv = r.str(B64, 44);
  return v(
    `PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: ${r.word()}@host\nPublic-Lines: 2\nAAAAC3NzaC1lZDI1NTE5AAAAI${r.str(B64, 42)}\n${r.str(B64, 8)}\nPrivate-Lines: 1\n${priv}\nPrivate-MAC: ${r.str(HEX, 64)}`,
    [priv],
  );
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
  { name: "twilio-api-key", bounded: true, key: "TWILIO_API_KEY", make: (r) => v(`SK${r.str(HEX, 32)}`) },
  { name: "twilio-account", bounded: true, key: "TWILIO_ACCOUNT_SID", make: (r) => v(`AC${r.str(HEX, 32)}`) },
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
  {
    name: "doppler-service",
    key: "DOPPLER_TOKEN",
    make: (r) => v(`dp.st.${r.pick(["prd", "dev", "stg_eu"])}.${r.str(ALNUM, 40)}`),
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
  { name: "mailgun", bounded: true, key: "MAILGUN_API_KEY", make: (r) => v(`key-${r.str(HEX, 32)}`) },
  { name: "mailchimp", key: "MAILCHIMP_API_KEY", make: (r) => v(`${r.str(HEX, 32)}-us${1 + r.int(20)}`) },
  {
    name: "telegram-bot",
    key: "TELEGRAM_BOT_TOKEN",
    make: (r) => v(`${1 + r.int(9)}${r.str(DIGITS, 9)}:AA${r.str(B64URL, 33)}`),
  },
  {
    name: "discord-bot",
    bounded: true,
    key: "DISCORD_BOT_TOKEN",
    make: (r) =>
      v(`${r.pick(["M", "N", "O"])}${r.str(ALNUM, 23 + r.int(3))}.${r.str(B64URL, 6)}.${r.str(B64URL, 38)}`),
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
    name: "terraform-cloud-mixed",
    key: "TF_TOKEN_app_terraform_io",
    make: (r) => v(`${r.str(ALNUM, 14)}.atlasv1.${r.str(ALNUM, 67)}`),
  },
  {
    name: "dynatrace",
    key: "DT_API_TOKEN",
    make: (r) => v(`dt0c01.${r.str(UPPER + DIGITS, 24)}.${r.str(UPPER + DIGITS, 64)}`),
  },
  { name: "alibaba", bounded: true, key: "ALIBABA_ACCESS_KEY_ID", make: (r) => v(`LTAI${r.str(ALNUM, 20)}`) },
  {
    name: "azure-ad-secret",
    key: "AZURE_CLIENT_SECRET",
    make: (r) => v(`${r.str(ALNUM, 3)}${r.int(10)}Q~${r.str(`${ALNUM}_~.-`, 34)}`),
  },
  { name: "sentry-user", key: "SENTRY_AUTH_TOKEN", make: (r) => v(`sntryu_${r.str(HEX, 64)}`) },
  { name: "figma", key: "FIGMA_TOKEN", make: (r) => v(`figd_${r.str(B64URL, 40)}`) },
  { name: "notion", key: "NOTION_TOKEN", make: (r) => v(`ntn_${r.str(DIGITS, 11)}${r.str(ALNUM, 35)}`) },
  { name: "notion-any", key: "NOTION_API_KEY", make: (r) => v(`ntn_${r.str(ALNUM, 46)}`) },
  {
    name: "airtable",
    bounded: true,
    key: "AIRTABLE_TOKEN",
    make: (r) => v(`pat${r.str(ALNUM, 14)}.${r.str(HEX, 64)}`),
  },
  { name: "replicate", bounded: true, key: "REPLICATE_API_TOKEN", make: (r) => v(`r8_${r.str(ALNUM, 37)}`) },
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
  { name: "kubeconfig-client-key", key: "client-key-data", make: kubeKey },
  {
    name: "kubeconfig-client-cert",
    key: "CLIENT_CERTIFICATE_DATA",
    keyed: true,
    // A certificate is known by its name alone (python's Client(api_data=…) renames it).
    shapes: [
      "env",
      "json",
      "yaml",
      "export",
      "js",
      "xml",
      "yaml-block",
      "k8s-secret",
      "urlencoded",
      "json-escaped",
      "hexdump",
    ],
    make: (r) => {
      const b64 = Buffer.from(
        `-----BEGIN CERTIFICATE-----\n${pemBody(r).join("\n")}\n-----END CERTIFICATE-----\n`,
      ).toString("base64");
      return v(b64, [b64.slice(40, 80)]);
    },
  },
  {
    name: "netrc",
    key: "NETRC",
    make: (r) => {
      const password = cliPassword(r);
      return v(`machine ${r.host()} login ${r.word()} password ${password}`, [password]);
    },
  },
  {
    name: "pgpass",
    key: "PGPASSFILE",
    shapes: ["file"],
    make: (r) => {
      const password = cliPassword(r).replace(/:/g, "x");
      return v(`${r.host()}:${r.pick(["5432", "*"])}:${r.pick(["app", "*"])}:${r.word()}:${password}`, [
        password,
      ]);
    },
  },
  {
    name: "cli-password",
    key: "LOGIN_CMD",
    bounded: true,
    make: (r) => {
      const password = cliPassword(r);
      const host = r.host();
      return v(
        r.pick([
          `docker login -u ${r.word()} -p ${password} registry.example.com`,
          `docker login --username ${r.word()} --password ${password} ghcr.io`,
          `podman login --password=${password} -u ${r.word()} quay.io`,
          `mysql -h ${host} -u ${r.word()} -p${password} shop`,
          `sshpass -p ${password} ssh ${r.word()}@${host}`,
          `curl -u ${r.word()}:${password} https://${host}/api`,
        ]),
        [password],
      );
    },
  },
  { name: "password-hash", key: "HTPASSWD", make: passwordHash },
  { name: "jwk-private", key: "JWK", shapes: ["file", "log"], make: jwk },
  { name: "putty-ppk", key: "PPK", multiline: true, shapes: ["file"], make: ppk },
  {
    name: "private-key-lower",
    key: "PRIVATE_KEY",
    multiline: true,
    make: (r) => {
      const made = pem(r, "");
      return {
        ...made,
        value: made.value
          .replace(/PRIVATE KEY/g, "private key")
          .replace(/BEGIN|END/g, (w) => w.toLowerCase()),
      };
    },
  },
  {
    name: "google-refresh",
    key: "GOOGLE_REFRESH_TOKEN",
    make: (r) => v(`1//0${r.pick(["g", "e", "3"])}${r.str(B64URL, 100)}`),
  },
  {
    name: "paypal-braintree",
    key: "BRAINTREE_ACCESS_TOKEN",
    make: (r) => v(`access_token$production$${r.str(LOWER + DIGITS, 16)}$${r.str(HEX, 32)}`),
  },
  {
    name: "bitbucket",
    key: "BITBUCKET_APP_PASSWORD",
    make: (r) => v(`ATBB${r.str(ALNUM, 32)}${r.str(HEX, 8).toUpperCase()}`),
  },
  { name: "circleci", key: "CIRCLE_TOKEN", make: (r) => v(`CCIPAT_${r.str(ALNUM, 22)}_${r.str(HEX, 40)}`) },
  { name: "render", key: "RENDER_API_KEY", make: (r) => v(`rnd_${r.str(ALNUM, 32)}`) },
  {
    name: "mapbox",
    key: "MAPBOX_SECRET_TOKEN",
    make: (r) => v(`sk.eyJ1Ijoi${r.str(ALNUM, 20)}IiwiYSI6I${r.str(ALNUM, 20)}.${r.str(B64URL, 22)}`),
  },
  {
    name: "langsmith",
    key: "LANGSMITH_API_KEY",
    make: (r) => v(`lsv2_${r.pick(["pt", "sk"])}_${r.str(HEX, 32)}_${r.str(HEX, 10)}`),
  },
  {
    name: "pinecone",
    key: "PINECONE_API_KEY",
    make: (r) => v(`pcsk_${r.str(ALNUM, 5)}_${r.str(ALNUM, 60)}`),
  },
  {
    name: "ngrok",
    bounded: true,
    key: "NGROK_AUTHTOKEN",
    make: (r) => v(`2${r.str(ALNUM, 26)}_${r.str(ALNUM, 21)}`),
  },
  {
    name: "telnyx",
    bounded: true,
    key: "TELNYX_API_KEY",
    make: (r) => v(`KEY${r.str(UPPER + DIGITS, 32)}_${r.str(ALNUM, 22)}`),
  },
  {
    name: "dotnet-connection-string",
    key: "ConnectionStrings__Default",
    make: (r) => {
      const password = r.password().replace(/[;'"]/g, "x");
      return v(
        r.pick([
          `Server=${r.host()};Database=app;User ID=${r.word()};Password=${password};`,
          `Data Source=${r.host()},1433;Initial Catalog=app;User Id=${r.word()};Pwd=${password};Encrypt=True`,
          `Driver={PostgreSQL};Server=${r.host()};Port=5432;Database=app;Uid=${r.word()};Password=${password};`,
        ]),
        [password],
      );
    },
  },
  {
    name: "aws-key-pair",
    key: "AWS_CREDENTIALS_CSV",
    make: (r) => {
      const id = `AKIA${r.str("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)}`;
      const secret = r.str(B64, 40);
      return v(
        r.pick([
          `${r.word()},,${id},${secret},https://123456789012.signin.aws.amazon.com/console`,
          `| ${r.word()} | ${id} | ${secret} | Active |`,
          `${id}\t${secret}\t2026-12-01`,
          `access key ${id} secret ${secret}`,
        ]),
        [id, secret],
      );
    },
  },
];

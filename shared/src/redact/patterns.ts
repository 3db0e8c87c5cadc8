/**
 * Secret shapes redacted from everything that leaves the sidecar in text form: exec previews,
 * `clawguard read` output, the audit trail's command lines, logs. Written from the issuers' own
 * documented formats (prefix, length, alphabet), plus shapes that carry a credential in any
 * issuer's key: URLs with a password, Basic auth, `curl -u`, PEM blocks, connection strings and
 * values assigned to a name that says "secret". Where two shapes overlap, the earlier name is kept.
 */
import { isPlaceholder, isReference, looksLikeSecretValue, looksLikeToken } from "./entropy.ts";

export interface SecretPattern {
  readonly name: string;
  /** Global. Its match (less the kept group) is what is redacted. */
  readonly pattern: RegExp;
  /** Keep this capture group, a prefix of the match (e.g. the `key=` part), and redact the rest. */
  readonly keepGroup?: number;
  /** The match must start a token: the character before it is no letter, digit or `_`. */
  readonly tokenStart?: boolean;
  /**
   * The secret starts before the match (a part checked by a look-behind): this many characters, or
   * "token" for the letters and digits just before it.
   */
  readonly before?: number | "token";
  /** Decides on each match's redacted part: false leaves it (e.g. `token = req.headers.x`). */
  readonly accept?: (secret: string) => boolean;
  /**
   * A catch-all by name (`token=…`): the scan goes on inside its value, so that an issuer's key
   * there is found too and names the range (`token: sk_live_…` is a stripe-key).
   */
  readonly generic?: boolean;
  /** Keep the prefix of the match this matches (like keepGroup, for patterns run as one alternation). */
  readonly keep?: RegExp;
  /** After a refused match, the scan resumes after this prefix of it (else after the match). */
  readonly resumeAfter?: RegExp;
  /** The redacted part is base64: it is redacted when its decoding is text that holds a secret. */
  readonly encoded?: "base64";
}

const re = (source: string, flags = "g") => new RegExp(source, flags);

/** Two base64url JSON segments first (header and payload, each `eyJ` and 5 more), then a dot. */
const isJwt = (run: string) => /^eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\./.test(run);

/**
 * An issuer-prefixed key, from the issuer's documented prefix, length and alphabet. The start of a
 * token is checked on the rare match rather than by a look-behind at every position (which keeps
 * the engine from skipping ahead to the prefix); findSecrets runs all of these as one alternation.
 */
const key = (name: string, source: string, accept?: (secret: string) => boolean): SecretPattern => ({
  name,
  pattern: re(`${source}(?![A-Za-z0-9_])`),
  tokenStart: true,
  ...(accept ? { accept } : {}),
});

/**
 * A key whose prefix is distinctive enough to be found glued to the word before it
 * (`xtoken_ghp_…`, `keyAKIA…`, `foo_sk-proj-…`): no start of a token is asked for.
 */
const glued = (name: string, source: string, accept?: (secret: string) => boolean): SecretPattern => ({
  ...key(name, source, accept),
  tokenStart: false,
});

const PREFIXED: readonly SecretPattern[] = [
  glued("anthropic-key", "sk-ant-[a-z]+\\d*-[A-Za-z0-9_-]{20,}"),
  glued("openai-key", "sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,}", looksLikeToken),
  glued("openai-key", "sk-[A-Za-z0-9_-]{20,100}T3BlbkFJ[A-Za-z0-9_-]{20,100}"),
  key("openai-key", "sk-[A-Za-z0-9_-]{20,}", looksLikeToken),
  glued("github-token", "gh[pousr]_[A-Za-z0-9]{30,}"),
  glued("github-token", "github_pat_[A-Za-z0-9_]{30,}"),
  glued("gitlab-token", "gl(?:pat|dt|rt|ptt|cbt|ft|imt|oas|soat|agent|ffct|wt)-[A-Za-z0-9_-]{20,}"),
  glued("npm-token", "npm_[A-Za-z0-9]{36}"),
  glued("pypi-token", "pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{40,}"),
  glued("huggingface-token", "hf_[A-Za-z0-9]{34,}", looksLikeToken),
  glued("huggingface-token", "api_org_[A-Za-z0-9]{34,}", looksLikeToken),
  glued("sendgrid-key", "SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}"),
  key("twilio-key", "SK[0-9a-fA-F]{32}"),
  key("twilio-key", "AC[0-9a-fA-F]{32}"),
  glued("stripe-key", "[sr]k_(?:live|test)_[A-Za-z0-9]{20,}"),
  glued("stripe-key", "whsec_[A-Za-z0-9+/]{32,}"),
  glued("slack-token", "xox[abposre]-[A-Za-z0-9-]{10,}"),
  glued("slack-token", "xapp-\\d-[A-Za-z0-9-]{10,}"),
  glued("aws-access-key", "A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{16}"),
  glued("google-key", "AIza[0-9A-Za-z_-]{35}"),
  glued("google-key", "GOCSPX-[A-Za-z0-9_-]{28}"),
  glued("google-key", "ya29\\.[A-Za-z0-9_-]{20,}"),
  glued("digitalocean-token", "do[por]_v1_[a-f0-9]{64}"),
  // Doppler: a service token may name its environment (`dp.st.prd.…`).
  glued("doppler-token", "dp\\.(?:pt|st|sa|ct|scim|audit)\\.(?:[a-z0-9_-]{1,30}\\.)?[A-Za-z0-9]{40,}"),
  glued("databricks-token", "dapi[a-f0-9]{32}(?:-\\d)?"),
  glued("pulumi-token", "pul-[a-f0-9]{40}"),
  glued("vault-token", "hv[sb]\\.[A-Za-z0-9_-]{24,}"),
  {
    name: "terraform-token",
    pattern: /atlasv1(?<=[A-Za-z0-9]{14}\.atlasv1)\.[A-Za-z0-9_=-]{60,}/g,
    before: 15,
  },
  glued("dynatrace-token", "dt0c01\\.[A-Z0-9]{24}\\.[A-Z0-9]{64}"),
  key("alibaba-key", "LTAI[A-Za-z0-9]{12,20}"),
  glued("heroku-key", "HRKU-[A-Za-z0-9_-]{58,}"),
  glued("netlify-token", "nfp_[A-Za-z0-9]{36}"),
  glued("supabase-token", "sbp_[a-f0-9]{40}"),
  glued("fly-token", "fo1_[A-Za-z0-9_-]{43}"),
  glued("tailscale-key", "tskey-[a-z]+-[A-Za-z0-9]+-[A-Za-z0-9]{20,}"),
  glued("dockerhub-token", "dckr_pat_[A-Za-z0-9_-]{27,}"),
  glued("planetscale-token", "pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64}"),
  glued("jfrog-token", "AKCp[A-Za-z0-9]{69}"),
  glued("shopify-token", "shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
  glued("linear-key", "lin_(?:api|oauth)_[A-Za-z0-9]{40}"),
  glued("postman-key", "PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
  glued("grafana-token", "glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
  glued("grafana-token", "glc_[A-Za-z0-9+/]{32,}={0,2}"),
  glued("newrelic-key", "NR(?:AK|II|JS|RA|AA)-[A-Za-z0-9]{20,}"),
  glued("atlassian-token", "ATATT3[A-Za-z0-9_=-]{100,}"),
  glued("square-token", "EAAA[A-Za-z0-9_-]{60}"),
  glued("square-token", "sq0(?:atp|csp)-[A-Za-z0-9_-]{22,43}"),
  key("mailgun-key", "key-[a-f0-9]{32}"),
  // Mailchimp: 32 hex then the data centre; found by its tail, the hex checked behind it.
  { name: "mailchimp-key", pattern: /-us\d{1,2}(?<=[a-f0-9]{32}-us\d{1,2})(?![A-Za-z0-9_])/g, before: 32 },
  glued("sentry-token", "sntry[us]_[A-Za-z0-9_=+/.-]{40,}"),
  glued("figma-token", "figd_[A-Za-z0-9_-]{40,}"),
  glued("notion-token", "ntn_[A-Za-z0-9]{40,50}", looksLikeToken),
  key("notion-token", "secret_[A-Za-z0-9]{43}"),
  key("airtable-token", "pat[A-Za-z0-9]{14}\\.[a-f0-9]{64}"),
  key("replicate-token", "r8_[A-Za-z0-9]{37}"),
  glued("groq-key", "gsk_[A-Za-z0-9]{52}"),
  glued("xai-key", "xai-[A-Za-z0-9]{80}"),
  glued("perplexity-key", "pplx-[A-Za-z0-9]{48}"),
  glued("rubygems-key", "rubygems_[a-f0-9]{48}"),
  glued("sourcegraph-token", "sgp_(?:[a-f0-9]{16}_|local_)?[a-f0-9]{40}"),
  glued("google-refresh-token", "1//0[A-Za-z0-9_-]{30,}"),
  glued("paypal-token", "access_token\\$production\\$[a-z0-9]{16}\\$[a-f0-9]{32}"),
  glued("bitbucket-token", "ATBB[A-Za-z0-9_=.-]{32,}", looksLikeToken),
  glued("circleci-token", "CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40}"),
  glued("render-key", "rnd_[A-Za-z0-9]{32,}", looksLikeToken),
  glued("mapbox-token", "sk\\.eyJ[A-Za-z0-9_-]{20,}\\.[A-Za-z0-9_-]{20,}"),
  glued("langsmith-key", "lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"),
  glued("pinecone-key", "pcsk_[A-Za-z0-9]{4,10}_[A-Za-z0-9]{40,}"),
  // ngrok authtoken: 2, 26 letters and digits, _, 21 more.
  key("ngrok-token", "2[A-Za-z0-9]{26}_[A-Za-z0-9]{21}", looksLikeToken),
  key("telnyx-key", "KEY[0-9A-Za-z_]{50,70}", looksLikeToken),
  glued("age-key", "AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
  // Telegram: <bot id>:AA<33>; the part after the colon is the secret.
  {
    name: "telegram-token",
    pattern: /:AA[A-Za-z0-9_-]{33}(?<=\d{8,10}:AA[A-Za-z0-9_-]{33})(?![A-Za-z0-9_])/g,
  },
  // Discord bot token: base64 of the user id (M, N or O: its first digit), a timestamp, an HMAC.
  {
    name: "discord-token",
    // (After a colour code too: an ANSI escape starts with ESC.)
    pattern:
      // biome-ignore lint/suspicious/noControlCharactersInRegex: an ANSI escape starts with ESC
      /\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}(?![A-Za-z0-9_])(?<=(?:(?<![A-Za-z0-9_])|(?<=\x1b\[[0-9;]{0,12}m))[MNO][A-Za-z0-9]{23,26}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38})/g,
    before: "token",
    accept: looksLikeToken,
  },
  {
    name: "azure-secret",
    // The digit before `Q~` first: cheap where it fails (`Q~Q~Q~…`), before the 31-34 characters.
    pattern: /Q~(?<=\dQ~)[A-Za-z0-9_~.-]{31,34}(?<=[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})/g,
    before: 4,
  },
  // A JWT: up to three base64url segments joined by dots are matched and checked, never a segment
  // that must be followed by a dot (a long run without one, `eyJeyJeyJ…`, was scanned again from
  // each `eyJ` in it: quadratic). Refused, the scan resumes after the first segment (so a key
  // after it, `keyJo4….atlasv1.…`, is still found), and each segment is read at most three times.
  {
    ...glued("jwt", "eyJ[A-Za-z0-9_-]*(?:\\.[A-Za-z0-9_-]*){0,2}", isJwt),
    resumeAfter: /^eyJ[A-Za-z0-9_-]*/,
  },
  {
    name: "webhook-url",
    pattern:
      /https:\/\/(?:hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9/_-]+|(?:ptb\.|canary\.)?discord(?:app)?\.com\/api\/webhooks\/\d+\/[A-Za-z0-9_-]+|[a-z0-9-]+\.webhook\.office\.com\/webhookb2\/[^\s"'<>]+)/g,
  },
  { name: "mattermost-webhook", pattern: /\/hooks\/[a-z0-9]{26}\b/g },
];

/**
 * Names that say their value is a secret, as the end of a key, flag, header or variable name (`pass`
 * only as a word of its own: `DB_PASS`, `pass:`, not `bypass`).
 */
export const SECRET_NAME =
  "(?:passw(?:or)?d|(?<![a-z0-9])pass|pwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?|auth[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth|session[_-]?(?:id|key)|cookie|license[_-]?key|encryption[_-]?key|signing[_-]?key|master[_-]?key|secret[_-]?key|_key|-key|dsn|connection[_-]?string|sig|client[_-]?certificate[_-]?data)";
/**
 * A value: up to the next quote, space or delimiter, and not a function's name before its call; at
 * most 512 characters (a refused value is searched again for keys inside it: the bound keeps that
 * linear).
 */
const VALUE = "[^\\s\"'`,;(){}[\\]<>]{6,512}(?![^\\s\"'`,;(){}[\\]<>])(?!\\()";

/** Credentials inside a structure of their own: a URL, a header, a command's flag, a connection string. */
const STRUCTURED: readonly SecretPattern[] = [
  {
    name: "private-key",
    // A PEM private key; an unterminated one (cut by a page boundary) is redacted to the end.
    pattern:
      /-----(?i:BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----[\s\S]*?(?:-----(?i:END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----|$)/g,
  },
  {
    name: "private-key",
    // PuTTY's .ppk: the base64 lines after `Private-Lines: N`.
    pattern: /Private-Lines:[ \t]*\d+\r?\n[A-Za-z0-9+/=]+(?=\r?\n|$)(?:\r?\n[A-Za-z0-9+/=]+(?=\r?\n|$))*/g,
    keep: /^Private-Lines:[ \t]*\d+\r?\n/,
  },
  {
    name: "private-key",
    // A JWK's private members (RSA d, p, q, dp, dq, qi; EC and OKP d), compact or pretty.
    pattern: /:(?<="(?:d|p|q|dp|dq|qi)"[ \t]*:)[ \t]*"[A-Za-z0-9_-]{40,}(?=")/g,
    keep: /^:[ \t]*"/,
    accept: looksLikeToken,
  },
  {
    name: "url-credential",
    // scheme://user:password@host: the password only (scheme, user and host stay readable).
    pattern: /:\/\/[^\s:/?#@"'<>[\]]{0,128}:[^\s/?#@"'<>]{1,256}(?=@[^\s@]*[A-Za-z0-9])/g,
    keep: /^:\/\/[^\s:/?#@"'<>[\]]{0,128}:/,
    accept: (password) => !isReference(password),
  },
  ...["Basic\\s+", "BASIC\\s+", "basic\\s+"].map(
    (word): SecretPattern => ({
      name: "basic-auth",
      pattern: re(`${word}[A-Za-z0-9+/]{8,}={0,2}`),
      keep: /^\w+\s+/,
      tokenStart: true,
      accept: (b64) => Buffer.from(b64, "base64").toString("latin1").includes(":"),
    }),
  ),
  ...["Bearer\\s+", "BEARER\\s+", "bearer\\s+"].map(
    (word): SecretPattern => ({
      name: "bearer",
      pattern: re(`${word}[^\\s"'\`<>(),;]{8,}`),
      keep: /^\w+\s+/,
      tokenStart: true,
      // "Bearer authentication", "Bearer test-key", "Bearer YOUR_KEY" are prose; a token has a digit or a dot.
      accept: (token) => !isReference(token) && (!/^[A-Za-z_-]+$/.test(token) || token.length >= 24),
    }),
  ),
  {
    name: "cli-credential",
    // curl -u user:pass, --user=, --proxy-user: the password after the first colon.
    // (The flag must start a word: checked behind it for each spelling, a bounded look-behind; one
    // over `-[-\w]*` went back over all of `-u-u-u…` from each `-`: quadratic.)
    pattern:
      /-(?:u|U|-user|-proxy-user)(?<=(?:^|[\s"'])(?:-u|-U|--user|--proxy-user))(?:\s+|=)["']?[^\s:"'[]*:[^\s"']{3,}/g,
    keep: /^-[^\s=]*(?:\s+|=)["']?[^\s:"'[]*:/,
    accept: (value) => !/^\d+$/.test(value),
  },
  {
    name: "cli-credential",
    // mysql -pSECRET (the password joined to the flag), sshpass -p SECRET, docker/podman/helm/cf
    // login -p SECRET.
    pattern:
      /-p(?:(?<=(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b[^\n]{0,200}\s-p)|(?<=sshpass\s+-p|\blogin\b[^\n]{0,200}\s-p)\s*)(?:'[^'\n]{3,200}'|"[^"\n]{3,200}"|[^\s"']{3,})/g,
    // (Quoted too: `sshpass -p 'Xy7#kL9!…'`, `mysql -p"…"`, the quotes going with the secret; the
    // program's name may follow a colour code, so no word boundary is asked before it.)
    keep: /^-p\s*/,
    accept: (value) => !isReference(value.replace(/^["']/, "")),
  },
  {
    name: "cli-credential",
    // A password piped to `sudo -S` (which reads it from stdin): `echo pw | sudo -S cmd`.
    pattern:
      /(?:echo|printf)[ \t]+(?:-[neE]{1,3}[ \t]+)?(?:'[^'\n]{1,200}'|"[^"\n]{1,200}"|[^\s|;&'"]{1,200})(?=[ \t]*\|[ \t]*sudo[ \t]+(?:-[A-Za-z]*[ \t]+){0,4}?-[A-Za-z]*S)/g,
    keep: /^\w+[ \t]+(?:-[neE]{1,3}[ \t]+)?/,
    tokenStart: true,
  },
  {
    name: "authorization",
    // An Authorization header's value under a scheme other than Basic or Bearer (`Token …`, `Bot
    // …`, `SSWS …`, `Key …`), or none (`Authorization: <key>`).
    pattern:
      /:(?<=[Aa]uthorization["']?:)[ \t]*["']?(?:(?!(?:Bearer|BEARER|bearer|Basic|BASIC|basic)\b)[A-Za-z][\w-]{0,20}[ \t]+)?[^\s"',;]{16,4096}/g,
    keep: /^:[ \t]*["']?(?:[A-Za-z][\w-]{0,20}[ \t]+)?/,
    accept: looksLikeSecretValue,
  },
  {
    name: "connection-string",
    pattern: /AccountKey=[^;\s"']{8,}/g,
    keep: /^\w+=/,
  },
  {
    name: "connection-string",
    pattern: /Shared(?:AccessKey|AccessSignature|SecretValue)=[^;\s"']{8,}/g,
    keep: /^\w+=/,
  },
  ...[":", "="].map(
    (sep): SecretPattern => ({
      name: "aws-secret-key",
      pattern: re(
        `${sep}(?<=(?i:aws_secret_access_key|secretaccesskey)["']?\\s*${sep})\\s*["']?[A-Za-z0-9/+=]{40}`,
      ),
      keep: /^[:=]\s*["']?/,
    }),
  ),
  ...[":", "="].map(
    (sep): SecretPattern => ({
      name: "mattermost-token",
      pattern: re(
        `${sep}(?<=(?i:(?:mattermost|mm)[A-Za-z_-]*(?:token|key))["']?\\s*${sep})\\s*["']?(?i:[a-z0-9]{26})\\b`,
      ),
      keep: /^[:=]\s*["']?/,
    }),
  ),
  {
    name: "aws-secret-key",
    // A secret access key in the column after its key id (IAM's credentials CSV, tables, `aws
    // configure` transcripts): a 40-character base64 token later on the id's line.
    pattern: /(A(?:KIA|SIA)[A-Z0-9]{16}[^\n]{0,120}?(?:[\s,|;:"'=]|\\t))[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g,
    keepGroup: 1,
    accept: looksLikeToken,
  },
  {
    name: "netrc-password",
    // .netrc: `machine h login u password p`, or `password p` alone on its line.
    pattern: /login[ \t]+\S+[ \t]+password[ \t]+[^\s]+/g,
    keep: /^login[ \t]+\S+[ \t]+password[ \t]+/,
    tokenStart: true,
    accept: (value) => !isReference(value),
  },
  {
    name: "netrc-password",
    pattern: /password(?<=(?:^|\n)[ \t]*password)[ \t]+[^\s]{6,}(?=[ \t]*(?:\r?\n|$))/g,
    keep: /^password[ \t]+/,
    accept: looksLikeSecretValue,
  },
  {
    name: "pgpass-password",
    // ~/.pgpass: host:port:database:user:password, the whole line. Found from the port's colon.
    pattern:
      /:(?:\d{1,5}|\*):[^\s:]+:[^\s:]+:(?<=(?:^|\n)[^\s:#]+:(?:\d{1,5}|\*):[^\s:]+:[^\s:]+:)\S+(?=\r?\n|$)/g,
    keep: /^(?::[^:]*){4}:/,
    accept: (value) => !isReference(value) && !/^\d+$/.test(value),
  },
  {
    name: "password-hash",
    // crypt(3) and htpasswd hashes (`user:$apr1$salt$hash`, /etc/shadow, bcrypt, argon2, {SHA}).
    pattern:
      /\$(?:(?:apr1|1|5|6)\$[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{20,}|2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}|y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{20,}|argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]{20,})/g,
  },
  { name: "password-hash", pattern: /\{SHA\}[A-Za-z0-9+/]{27}=/g },
  ...["password", "Password", "PASSWORD", "pwd", "Pwd", "PWD"].map(
    (field): SecretPattern => ({
      name: "connection-string",
      // ADO.NET, ODBC, JDBC: Password=/Pwd= as a field of a `;`-separated string, whatever its
      // strength. A first field counts when a `;` ends it (`password=x` alone is left to the rules
      // for names). One expression per spelling, each starting with its letter.
      pattern: re(
        `${field}[ \\t]*=[ \\t]*(?<=(?:^|[\\n;"'])[ \\t]*${field}[ \\t]*=[ \\t]*)[^;"'\\n]{1,200}(?:(?=;)|(?<=;[ \\t]*${field}[ \\t]*=[ \\t]*[^;"'\\n]{1,200})(?=["']|\\r?\\n|$))`,
      ),
      keep: /^\w+[ \t]*=[ \t]*/,
      accept: (value) => !isReference(value.trim()),
    }),
  ),
  {
    name: "credential",
    // XML config: <add key="ApiKey" value="..."/> (.NET appSettings), <env name="X" value="..."/>,
    // <password>...</password>.
    pattern: re(
      `value\\s*=\\s*["'](?<=\\b(?:key|name)\\s*=\\s*["'](?i:[\\w.:-]*${SECRET_NAME})["']\\s+value\\s*=\\s*["'])[^"'\\n]+`,
    ),
    keep: /^value\s*=\s*["']/,
    accept: (value) => !isReference(value) && !isPlaceholder(value),
  },
  {
    name: "credential",
    pattern: re(`<(?i:[\\w:.-]*${SECRET_NAME})>[^<\\n]+(?=</)`),
    keep: /^<[^>]*>/,
    accept: (value) => !isReference(value) && !isPlaceholder(value),
  },
  ...[":", "="].map(
    (sep): SecretPattern => ({
      name: "kubeconfig-credential",
      // A kubeconfig's client certificate (with client-key-data, which decodes to a private key,
      // the user's credential pair; `kubectl config view` hides both). certificate-authority-data
      // is the cluster's public CA and stays readable.
      pattern: re(
        `${sep}(?<=(?i:client[_-]?certificate[_-]?data)["'\`]?\\s*${sep})\\s*["'\`]?[A-Za-z0-9+/]{16,}={0,2}`,
      ),
      keep: /^[:=]\s*["'`]?/,
    }),
  ),
  {
    name: "private-key",
    // A PEM private key in base64 (kubeconfig, Kubernetes Secrets, CI variables): "-----BEGIN" encoded.
    pattern: /LS0tLS1CRUdJTi[A-Za-z0-9+/]{20,}={0,2}/g,
    accept: (b64) => Buffer.from(b64, "base64").toString("latin1").includes("PRIVATE KEY"),
  },
];

/**
 * Values given to a secret's name, in any syntax: `KEY=`, `"key": "..."`, `key: ...`, `--password ...`.
 * The expression starts at the separator (rare next to every letter) and looks behind it for the name.
 */
const ASSIGNED: readonly SecretPattern[] = [
  // One expression per first character of the separator (`:=`, `:`, `=>`, `=`), so that each runs
  // in findSecrets' one alternation under its first character.
  ...[":=?", "=>?"].map(
    (sep): SecretPattern => ({
      name: "credential",
      pattern: re(`${sep}(?i:(?<=${SECRET_NAME}["'\`]?\\]?\\s*(?::=|=>|[:=]))\\s*(?:["'\`]|\\\\")?${VALUE})`),
      keep: /^(?::=|=>|[:=])\s*(?:["'`]|\\")?/,
      accept: looksLikeSecretValue,
      generic: true,
    }),
  ),
  {
    name: "credential",
    pattern: re(`-(?i:(?<=(?:^|\\s)-)-?[\\w-]*${SECRET_NAME}(?:\\s+|=)["']?${VALUE})`),
    keep: /^-[^\s=]*(?:\s+|=)["']?/,
    accept: looksLikeSecretValue,
    generic: true,
  },
];

/** A YAML key with a secret's name opening a block scalar (`private_key: |-`); group 1 its indentation. */
export const SECRET_BLOCK_KEY = `^([ \\t]*)[\\w.-]*${SECRET_NAME}["']?:[ \\t]*[|>][-+]?[1-9]?[ \\t]*\\r?$`;

/**
 * A YAML block scalar under a secret's name: every line indented deeper than the key after
 * `key: |` (or `>`, `|-`, `|+`, `|2`) is the value. Sticky: tried only at a `|` or `>` that ends
 * a line (findSecrets finds those in one pass with the other rare marks); the key and its
 * indentation are checked and captured by a look-behind.
 */
export const SECRET_BLOCK: SecretPattern = {
  name: "credential",
  pattern: re(
    `([|>](?<=^([ \\t]*)[\\w.-]*${SECRET_NAME}["']?:[ \\t]*[|>])[-+]?[1-9]?[ \\t]*\\r?\\n\\2[ \\t]+)\\S[^\\n]*(?:\\n\\2[ \\t]+\\S[^\\n]*)*`,
    "yim",
  ),
  keepGroup: 1,
  accept: (value) => !isReference(value),
};

/**
 * Base64 values whose decoding holds a secret: last, so that at a colon or an equals sign an
 * issuer's key (a Telegram token's `:AA…`) is tried first.
 */
const ENCODED: readonly SecretPattern[] = [
  {
    name: "encoded-secret",
    // A base64 value (a Kubernetes Secret's `data:`, a kubeconfig's client-key-data, a CI variable)
    // whose decoding holds a secret.
    pattern: /:[ \t]*["']?[A-Za-z0-9+/]{16,}={0,2}(?=["']?[ \t]*(?:[,;}\r\n]|$))/g,
    keep: /^[:=][ \t]*["']?/,
    encoded: "base64",
  },
  {
    name: "encoded-secret",
    pattern: /=[ \t]*["']?[A-Za-z0-9+/]{16,}={0,2}(?=["']?[ \t]*(?:[,;}\r\n]|$))/g,
    keep: /^[:=][ \t]*["']?/,
    encoded: "base64",
  },
];

export const SECRET_PATTERNS: readonly SecretPattern[] = [
  ...STRUCTURED,
  ...PREFIXED,
  ...ASSIGNED,
  ...ENCODED,
];

/**
 * Secret shapes redacted from everything that leaves the sidecar in text form: exec previews,
 * `clawguard read` output, logs. Order matters: specific shapes before generic ones.
 */
export interface SecretPattern {
  readonly name: string;
  readonly pattern: RegExp;
  /** Keep this capture group (e.g. the `key=` part) and redact the rest of the match. */
  readonly keepGroup?: number;
}

export const SECRET_PATTERNS: readonly SecretPattern[] = [
  {
    name: "private-key",
    // A PEM private key; an unterminated one (cut by a page boundary) is redacted to the end.
    pattern:
      /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|$)/g,
  },
  { name: "anthropic-key", pattern: /\bsk-ant-[A-Za-z0-9_-]{20,}/g },
  { name: "openai-key", pattern: /\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}/g },
  { name: "github-token", pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})/g },
  { name: "slack-token", pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/g },
  { name: "slack-webhook", pattern: /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/_-]+/g },
  { name: "mattermost-webhook", pattern: /\/hooks\/[a-z0-9]{26}\b/g },
  { name: "aws-access-key", pattern: /\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b/g },
  {
    name: "aws-secret-key",
    pattern: /(aws_secret_access_key|secretaccesskey)(["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{40}/gi,
    keepGroup: 2,
  },
  { name: "google-api-key", pattern: /\bAIza[0-9A-Za-z_-]{35}\b/g },
  { name: "jwt", pattern: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g },
  { name: "bearer", pattern: /(\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, keepGroup: 1 },
  {
    name: "mattermost-token",
    pattern: /((?:mattermost|mm)[A-Za-z_-]*(?:token|key)["']?\s*[:=]\s*["']?)[a-z0-9]{26}\b/gi,
    keepGroup: 1,
  },
  {
    name: "credential",
    // key=value / "key": "value" for names that say they hold a secret.
    pattern:
      /((?:api[_-]?key|secret|token|passw(?:or)?d|access[_-]?key|client[_-]?secret)["']?\s*[:=]\s*["']?)(?!\[REDACTED)[^\s"',;]{8,}/gi,
    keepGroup: 1,
  },
];

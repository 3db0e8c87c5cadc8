import { describe, expect, it } from "vitest";
import {
  captureGroups,
  findSecretsInBytes,
  redact,
  redactObject,
  redactSlice,
  redactText,
  SECRET_PATTERNS,
} from "./index.ts";
import { LineRedactor } from "./lines.ts";

const secrets: [string, string][] = [
  ["aws-access-key", "key AKIAIOSFODNN7EXAMPLE here"],
  ["aws-secret-key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
  ["github-token", "token ghp_0123456789abcdefghijABCDEFGHIJ012345 ok"],
  ["github-token", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"],
  ["openai-key", "OPENAI sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"],
  ["anthropic-key", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789-xyz"],
  ["slack-token", "xoxb-123456789012-1234567890123-abcdefghijklmnop"],
  ["mattermost-token", 'MATTERMOST_BOT_TOKEN="abcdefghijklmnopqrstuvwxyz"'],
  ["mattermost-webhook", "https://mm.example.com/hooks/abcdefghijklmnopqrstuvwxyz"],
  ["private-key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----"],
  ["private-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (cut by a page boundary)"],
  ["bearer", "Authorization: Bearer abc.def-ghi_jkl"],
  ["jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"],
  ["credential", "password=hunter2hunter2"],
];

describe("redact", () => {
  it.each(secrets)("redacts %s", (kind, text) => {
    const { text: out, counts } = redact(text);
    expect(counts[kind]).toBeGreaterThan(0);
    expect(out).toContain("[REDACTED:");
    // Nothing of the secret's distinctive part survives.
    const secretPart = text.match(
      /(AKIA\w+|wJalr\S+|ghp_\w+|github_pat_\w+|sk-\S+|xoxb-\S+|[a-z]{26}|MIIEow|b3BlbnNz\S+|abc\.def\S+|eyJ\S+|hunter2\S+)/,
    )?.[0];
    expect(secretPart && out.includes(secretPart)).toBe(false);
  });

  it("leaves ordinary output alone", () => {
    const text = "compiled 42 files in 3.1s\nerror: cannot find module 'x'\nsk-short is not a key\n";
    expect(redact(text).text).toBe(text);
  });

  it("takes two lower-case words after a key's name for a name, and a passphrase of more words for a secret", () => {
    const line = 'const INTERVALS_KEY = "heartbeat-intervals";';
    expect(redact(line).text).toBe(line);
    expect(redact("PASSWORD=correct-horse-battery-staple").text).toContain("[REDACTED:");
  });

  it("keeps the name of what was redacted", () => {
    expect(redact("Authorization: Bearer abcdefgh12345678").text).toBe(
      "Authorization: Bearer [REDACTED:bearer]",
    );
  });
});

describe("redactObject", () => {
  it("hides secret-named values at any depth", () => {
    expect(redactObject({ a: 1, api: { token: "t", apiKey: "k", nested: [{ password: "p" }] } })).toEqual({
      a: 1,
      api: { token: "[REDACTED]", apiKey: "[REDACTED]", nested: [{ password: "[REDACTED]" }] },
    });
  });
});

describe("redact on hostile output", () => {
  // Output is whatever a command prints, so an agent can craft it: every pattern stays linear.
  const hostile: [string, string][] = [
    ["flags", " -password".repeat(25_000)],
    ["issuer prefixes", "sk-".repeat(80_000)],
    ["separators", "token=".repeat(40_000)],
    ["unterminated PEM headers", "-----BEGIN PRIVATE KEY-----\n".repeat(9_000)],
    ["URL credentials without @", `x://${"u".repeat(100)}:${"p".repeat(250)} `.repeat(700)],
    ["one long token", "A".repeat(250_000)],
    ["URL escapes", "%41".repeat(80_000)],
    ["JSON escapes", '\\"'.repeat(120_000)],
    ["block scalar marks", "a: |\n".repeat(50_000)],
    ["a long block scalar", `password: |\n${"  x\n".repeat(60_000)}`],
    ["hex dump rows", "00000000: 4142 4344  AB\n".repeat(9_000)],
    ["base64 after a colon", ": QUFBQUFBQUFBQUFBQUFBQQ==\n".repeat(9_000)],
    ["one long base64 value", `=${"A".repeat(250_000)}`],
    ["netrc words", "login x password ".repeat(15_000)],
    ["AWS ids", "AKIAIOSFODNN7EXAMPLE ".repeat(12_000)],
    ["XML tags", "<password>".repeat(25_000)],
    ["connection-string fields ending in quotes", "password=a'".repeat(22_000)],
    ["one very wide dump row", `00000000: ${"aa ".repeat(80_000)}`],
  ];
  it.each(hostile)("redacts 250 KB of %s in linear time (3 s allows for a loaded machine)", (_, text) => {
    const started = performance.now();
    redact(text);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe("redactSlice and LineRedactor: context across a page's edge", () => {
  const key =
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBODYLINEONE\nMHcCAQEEIBODYLINETWO\n-----END EC PRIVATE KEY-----";
  const text = `intro\n${key}\nafter sk_live_4eC39HqLyjWDarjtT1zdp7dc\n`;

  it("redacts a slice that starts inside a key or a token", () => {
    const inKey = text.indexOf("LINETWO");
    expect(redactSlice(text, inKey)).toBe("[REDACTED:private-key]\nafter [REDACTED:stripe-key]\n");
    const inToken = text.indexOf("4eC39");
    expect(redactSlice(text, inToken)).toBe("[REDACTED:stripe-key]\n");
    expect(redactSlice(text, 0, text.indexOf("LINEONE"))).toBe("intro\n[REDACTED:private-key]");
  });

  it("carries an open key block from lines it only passed", () => {
    const lines = text.split("\n");
    const redactor = new LineRedactor();
    for (const line of lines.slice(0, 3)) redactor.pass(line); // intro, BEGIN, body 1
    expect(lines.slice(3).map((line) => redactor.redact(line))).toEqual([
      "[REDACTED:private-key]",
      "[REDACTED:private-key]",
      "after [REDACTED:stripe-key]",
      "",
    ]);
  });
});

describe("redact: prefixed keys need no keyword; code after a secret's name is left alone", () => {
  it.each([
    "glpat-Xy3kP9qLm2Nv8RtW4sZa",
    "npm_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c",
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
    "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",
    "postgres://app:Xq9!vL2pZr@db.internal:5432/app",
    "curl -u deploy:Xq9vL2pZr https://registry.example.com",
    "Authorization: Basic ZGVwbG95OlhxOXZMMnBacg==",
  ])("%s in a plain log line", (secret) => {
    const out = redactText(`2026-12-07 INFO connecting ${secret} now`);
    expect(out).toContain("[REDACTED:");
    expect(out).not.toMatch(/Xy3kP9|Ab3dEf6h|AbCdEfGh|Xq9!?vL2|ZGVwbG95/);
  });

  it.each([
    "const token = req.headers.authorization;",
    "  password: string;",
    "const apiKey = process.env.OPENAI_API_KEY;",
    "  const secret = await getSecret(name);",
    "commit 3f2a9c1d0b8e7f6a5d4c3b2a1f0e9d8c7b6a5f4e",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "request_id=0d6f2b7e-3c1a-4f5e-9b8d-2a7c6e5f4d3b",
    `password: \${DB_PASSWORD}`,
    "Authorization: Bearer <your-token>",
    "  const credentials = createCredentialChecks({ dispatcher, health, log });",
    "const apiKey = resolveProviderApiKey;",
    "token: TokenStore.fromEnvironment(env),",
  ])("%s", (line) => {
    expect(redactText(line)).toBe(line);
  });
});

describe("redact: secrets an attacker found passing (issue 13)", () => {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const pemKey =
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx7Zq9KEYBODY\n-----END RSA PRIVATE KEY-----\n";
  const cert = "-----BEGIN CERTIFICATE-----\nMIIDCERTBODYq9Zx7\n-----END CERTIFICATE-----\n";
  // [family, line, a part that must not survive]
  const found: [string, string, string][] = [
    ["kubeconfig client-key-data", `    client-key-data: ${b64(pemKey)}`, b64(pemKey).slice(0, 30)],
    [
      "kubeconfig client-certificate-data",
      `    client-certificate-data: ${b64(cert)}`,
      b64(cert).slice(8, 40),
    ],
    ["Secret data: tls.key", `  tls.key: ${b64(pemKey)}`, b64(pemKey).slice(0, 30)],
    [
      "Secret data: a URL",
      `  DB_URL: ${b64("postgres://app:Xq9vL2pZr@db:5432/app")}`,
      b64("postgres://app:Xq9"),
    ],
    [
      "Secret data: .dockerconfigjson",
      `  .dockerconfigjson: ${b64('{"auths":{"r.io":{"auth":"ZGVwbG95OlhxOXZMMnBacg=="}}}')}`,
      b64('{"auths":{"r.io":{"auth":"ZGVwbG95'),
    ],
    ["glued github", "xtoken_ghp_0123456789abcdefghijABCDEFGHIJ012345", "ghp_0123456789"],
    ["glued AWS id", "keyAKIAIOSFODNN7EXAMPLE", "IOSFODNN7"],
    ["glued OpenAI", "foo_sk-proj-abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnop"],
    ["URL-encoded assignment", "GET /x?next=%2Fa%3Fpassword%3DHx9vL2pZr7q&x=1", "Hx9vL2pZr7q"],
    ["URL-encoded value", "token=ab%2Bcd%2Fef%3Dgh12XYzz", "ab%2Bcd%2Fef"],
    ["URL-encoded URL", "to=postgres%3A%2F%2Fapp%3AHx9vL2pZr7q%40db%2Fapp", "Hx9vL2pZr7q"],
    ["JSON-escaped", '{"msg":"{\\"token\\":\\"Xq9vL2pZr7qWm3\\"}"}', "Xq9vL2pZr7qWm3"],
    ["JSON \\u002F", '{"url":"https:\\u002F\\u002Fapp:Xq9vL2pZr@h.example.com"}', "Xq9vL2pZr"],
    ["DB_PASS", "DB_PASS=Xq9vL2pZr7", "Xq9vL2pZr7"],
    ["*_PASSWD", "SMTP_PASSWD=Xq9vL2pZr7", "Xq9vL2pZr7"],
    ["*_PWD", "MYSQL_PWD=Xq9vL2pZr7", "Xq9vL2pZr7"],
    ["PASSPHRASE", "GPG_PASSPHRASE=Xq9vL2pZr7", "Xq9vL2pZr7"],
    ["*_SECRET_KEY", "DJANGO_SECRET_KEY=Xq9vL2pZr7abcdef", "Xq9vL2pZr7"],
    ["*_CREDENTIALS", "GOOGLE_CREDENTIALS=Xq9vL2pZr7abcdef", "Xq9vL2pZr7"],
    ["pass:", "  pass: Xq9vL2pZr7", "Xq9vL2pZr7"],
    [".netrc", "machine api.example.com login alice password Xq9vL2pZr7", "Xq9vL2pZr7"],
    [".netrc on lines", "  password Xq9vL2pZr7", "Xq9vL2pZr7"],
    [".pgpass", "db.example.com:5432:app:alice:hunter2", "hunter2"],
    ["docker login -p", "docker login -u bob -p hunter22 registry.io", "hunter22"],
    ["docker login --password=", "docker login --password=Xq9vL2pZr7 r.io", "Xq9vL2pZr7"],
    ["mysql -p", "mysql -uroot -phunter22 app", "hunter22"],
    ["sshpass -p", "sshpass -p hunter22 ssh host", "hunter22"],
    ["curl -u", "curl -u bob:hunter22 https://x.example.com", "hunter22"],
    ["htpasswd apr1", "alice:$apr1$r31abcde$HqJZimcKQFAMYayBlzkrA/", "HqJZimcKQFAMYayBlzkrA"],
    ["shadow sha512", `root:$6$saltsalt$${"a1B2".repeat(21)}aa:19000:0:99999:7:::`, "a1B2a1B2a1B2"],
    ["appSettings", '<add key="ApiKey" value="hunter22x"/>', "hunter22x"],
    ["<password>", "<password>hunter22</password>", "hunter22"],
    ["connectionString", 'connectionString="Server=db;User ID=sa;Password=hunter2;"', "hunter2"],
    ["ODBC Pwd", "Driver={x};Server=db;Uid=sa;Pwd=hunter2;", "hunter2"],
    ["YAML block", "db:\n  password: |\n    Xq9vL2pZr7\n  other: 1", "Xq9vL2pZr7"],
    [
      "YAML block private_key",
      "private_key: |-\n  c2VjcmV0LWtleS1ib2R5\n  bW9yZS1rZXk=\nname: x",
      "bW9yZS1rZXk",
    ],
    ["aws ini", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"],
    [
      "IAM credentials CSV",
      "deploy,,AKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY,https://x",
      "wJalrXUtnFEMI",
    ],
    [
      "markdown table",
      "| deploy | AKIAIOSFODNN7EXAMPLE | wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY |",
      "wJalrXUtnFEMI",
    ],
  ];
  it.each(found)("%s", (_family, line, secret) => {
    const out = redactText(line);
    expect(out).toContain("[REDACTED:");
    expect(out).not.toContain(secret);
  });

  const dump = (bytes: Buffer) =>
    Array.from({ length: Math.ceil(bytes.length / 16) }, (_, i) => {
      const row = [...bytes.subarray(i * 16, i * 16 + 16)];
      const hex = row.map((b) => b.toString(16).padStart(2, "0")).join(" ");
      const chars = row.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
      return `${(i * 16).toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  |${chars}|`;
    }).join("\n");
  const token = "ghp_0123456789abcdefghijABCDEFGHIJ012345";

  it.each([
    ["ASCII", "latin1"],
    ["UTF-16LE", "utf16le"],
  ] as const)("a hex dump of %s text shows no part of the key", (_, encoding) => {
    const out = redactText(dump(Buffer.from(`token in use: ${token} ok\n`, encoding)));
    expect(out).toContain("[REDACTED:github-token]");
    const wide = encoding === "utf16le";
    for (const part of ["6789abcd", "EFGHIJ01"]) {
      const shown = wide ? [...part].join(".") : part;
      expect(out).not.toContain(shown);
    }
    expect(out.replace(/\s+/g, " ")).not.toContain(wide ? "36 00 37 00 38 00" : "36 37 38 39");
  });

  it("findSecretsInBytes finds UTF-16LE at either alignment", () => {
    for (const pad of ["", "x"]) {
      const bytes = Buffer.concat([Buffer.from(pad), Buffer.from(`k=${token}\n`, "utf16le")]);
      const [range] = findSecretsInBytes(bytes);
      expect(range?.name).toBe("github-token");
      expect(bytes.subarray(range?.start, range?.end).toString("utf16le")).toBe(token);
    }
  });

  it("redacts a hex dump row with the rows around it in LineRedactor", () => {
    // The key starts at the first row's 4th character (8 UTF-16 characters a row).
    const rows = dump(Buffer.from(`ab ${token} ok\n`, "utf16le")).split("\n");
    const redactor = new LineRedactor();
    const shown = rows.map((row, i) => redactor.redact(row, rows.slice(i + 1)));
    expect(shown.join("\n")).toContain("[REDACTED:github-token]");
    for (const part of ["g.h.p._", "6.7.8.9", "0.1.2.3.4.5"]) expect(shown.join("\n")).not.toContain(part);
    // Without the rows after it, the row where the key starts cannot know it is one.
    const alone = new LineRedactor();
    expect(rows.map((row) => alone.redact(row)).join("\n")).toContain("g.h.p._");
  });

  it("carries a YAML block scalar across lines in LineRedactor", () => {
    const redactor = new LineRedactor();
    const lines = ["creds:", "  client_secret: |", "    Xq9vL2pZr7", "", "    line2", "  other: 1"];
    redactor.pass(lines[0] as string);
    redactor.pass(lines[1] as string);
    expect(lines.slice(2).map((line) => redactor.redact(line))).toEqual([
      "    [REDACTED:credential]",
      "",
      "    [REDACTED:credential]",
      "  other: 1",
    ]);
  });

  it.each([
    "certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=",
    "  ca.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=",
    `  config.yaml: ${Buffer.from("replicas: 3\nimage: nginx:1.27\n").toString("base64")}`,
    "        pass: guard.p50 <= 1,",
    "bypass: true",
    "  --password <value>   the password (prefer --password-file)",
    "password changed for user alice",
    "3f2a9c1 add retry to the upload path",
    "00000000: 4865 6c6c 6f0a                           Hello.",
    'const x = "%2F"; // a slash, escaped',
    "run: |",
    "  token: |",
    `    \${{ secrets.NPM_TOKEN }}`,
    `Password=\${DB_PASSWORD};`,
    `<password>\${DB_PASSWORD}</password>`,
  ])("leaves %s alone", (line) => {
    expect(redactText(line)).toBe(line);
  });
});

describe("issue 13, third round: command lines and headers", () => {
  it.each([
    ["sshpass -p 'Xy7#kL9!mQ2$vBq8' ssh host", "Xy7#kL9!mQ2$vBq8"],
    ['sshpass -p "Xy7#kL9!mQ2$vBq8" ssh host', "Xy7#kL9!mQ2$vBq8"],
    ["mysql -u root -p'lfAENtOs__1JzDbNyY' shop", "lfAENtOs__1JzDbNyY"],
    ['docker login -u ci -p "lfAENtOs 1Jz" ghcr.io', "lfAENtOs 1Jz"],
    ["echo hunter2 | sudo -S true", "hunter2"],
    ["echo -n 'pw x' | sudo -k -S apt update", "pw x"],
    [
      "Authorization: Token T1yg2ccmO_7HkZyhaucFvm3G4DpdXoKA0JWHb5_5",
      "T1yg2ccmO_7HkZyhaucFvm3G4DpdXoKA0JWHb5_5",
    ],
    ["authorization: 8f2a9c0b7d1e4f3a6b5c8d9e0f1a2b3c4d5e6f7a", "8f2a9c0b7d1e4f3a6b5c8d9e0f1a2b3c4d5e6f7a"],
  ])("redacts %s", (line, secret) => {
    expect(redactText(line)).not.toContain(secret);
  });

  it.each([
    "sessionKey=agent:main:openai-user:probe-1",
    "Authorization header missing",
    "Authorization: Bearer <your-token>",
    "echo done | tee log",
  ])("leaves %s alone", (line) => {
    expect(redactText(line)).toBe(line);
  });
});

describe("issue 13, third round: formats", () => {
  const jwkRsa = `{"kty":"RSA","n":"${"n".repeat(40)}","e":"AQAB","d":"dPr1vAtEexp0nent0fTh1sKeyIsLongEnough4Test","p":"pPr1meFact0rOfTheModulusIsLongEnough4TestX"}`;
  it.each([
    ["notion-token", "using ntn_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3 now", "a1B2c3D4e5F6g7H8"],
    ["doppler-token", "DP=dp.st.prd.a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0", "a1B2c3D4e5F6g7H8"],
    [
      "terraform-token",
      "tok Ab3dEf6hIj9kLm.atlasv1.a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0a1B2c3D4e5F6g7H8i9J0k1L2",
      "a1B2c3D4e5F6g7H8",
    ],
    ["google-refresh-token", "refresh 1//0gA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0", "A1b2C3d4E5f6G7h8"],
    [
      "paypal-token",
      "access_token$production$abc123def456ghi7$0123456789abcdef0123456789abcdef",
      "0123456789abcdef",
    ],
    ["bitbucket-token", "ATBBa1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6A1B2C3D4", "a1B2c3D4e5F6g7H8"],
    [
      "circleci-token",
      "CCIPAT_a1B2c3D4e5F6g7H8i9J0k1_0123456789abcdef0123456789abcdef01234567",
      "a1B2c3D4e5F6g7H8",
    ],
    ["render-key", "key rnd_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6", "a1B2c3D4e5F6g7H8"],
    [
      "discord-token",
      "bot OTk1MjM0NTY3ODkwMTIzNDU2.GhIjKl.a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9",
      "a1B2c3D4e5F6g7H8",
    ],
    ["mapbox-token", "sk.eyJ1IjoiYWNtZSIsImEiOiJjbDEyMzQ1Njc4In0.a1B2c3D4e5F6g7H8i9J0k1", "a1B2c3D4e5F6g7H8"],
    ["langsmith-key", "lsv2_pt_0123456789abcdef0123456789abcdef_0123456789", "0123456789abcdef"],
    ["pinecone-key", "pcsk_a1B2c_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6", "a1B2c3D4e5F6g7H8"],
    ["ngrok-token", "authtoken 2a1B2c3D4e5F6g7H8i9J0k1L2m3_a1B2c3D4e5F6g7H8i9J0k", "a1B2c3D4e5F6g7H8"],
    ["telnyx-key", "KEY0123456789ABCDEF0123456789ABCDEF_a1B2c3D4e5F6g7H8i9J0k1", "a1B2c3D4e5F6g7H8"],
    ["twilio-key", "\u001b[32mSK0123456789abcdef0123456789abcdef\u001b[0m", "0123456789abcdef"],
    ["private-key", jwkRsa, "dPr1vAtEexp0nent"],
    ["private-key", jwkRsa, "pPr1meFact0r"],
    [
      "private-key",
      "Private-Lines: 1\nAAAAIBr4nd0mPr1vateKeyBytesInBase64GoHere==\nPrivate-MAC: 00ff",
      "AAAAIBr4nd0m",
    ],
    [
      "private-key",
      "-----begin private key-----\nMIIEvQIBADANBgkqhkiG9w0BAQ\n-----end private key-----",
      "MIIEvQIBADAN",
    ],
  ])("%s: %j", (kind, text, secret) => {
    const out = redact(text);
    expect(out.text).not.toContain(secret);
    expect(out.counts[kind], out.text).toBeGreaterThan(0);
  });

  it("a refused JWT-like run does not hide the key after it", () => {
    const line =
      "keyJo4mO98bNKFSD7.atlasv1.iwKDknrphd3SyUCSYodcxgCkuvGivFom8APXD1quDzvU9FUuIAyORlvxc2PhiB8W2rz";
    expect(redactText(line)).toBe("key[REDACTED:terraform-token]");
  });
});

describe("captureGroups", () => {
  // What the engine says: an empty alternative matches "", with every group undefined.
  const engine = (source: string) => (new RegExp(`${source}|`).exec("")?.length ?? 1) - 1;

  it("counts what the engine counts, for every secret pattern", () => {
    for (const p of SECRET_PATTERNS)
      expect(captureGroups(p.pattern.source), p.name).toBe(engine(p.pattern.source));
  });

  it("reads escapes, classes, look-arounds and named groups", () => {
    for (const source of [
      String.raw`\(a\)`,
      "[(]x",
      String.raw`[\]()]`,
      "(?:a)(?=b)(?!c)(?<=d)(?<!e)",
      "(?<name>a)(b)",
      "((a)|b)",
    ])
      expect(captureGroups(source), source).toBe(engine(source));
  });
});

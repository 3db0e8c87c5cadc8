import { Gen, HEX, seededRandom } from "./random.ts";
import { TS } from "./shapes.ts";

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
    // OpenClaw's own session keys and ids, JSON with one-letter keys, coloured output.
    () =>
      `sessionKey=agent:main:${r.pick(["openai-user", "telegram:dm", "main"])}:${r.pick(["probe", "u"])}-${r.int(999)}`,
    () =>
      `{"sessionKey":"agent:${r.word()}:discord:channel:${r.str("0123456789", 18)}","turns":${r.int(99)}}`,
    () => `{"d":"2026-12-0${1 + r.int(8)}","p":${r.int(99)},"q":"${r.word()}","n":${r.int(9)}}`,
    () => `\x1b[32mINFO\x1b[0m ${TS} \x1b[36m${r.word()}\x1b[0m request_id=${uuid()} done`,
    () => `\x1b[1;34m${r.word()}\x1b[0m  \x1b[01;32m${r.word()}.sh\x1b[0m  ${r.word()}.md`,
  ];
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(r.pick(makers)());
  return out;
}

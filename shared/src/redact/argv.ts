/**
 * Secrets in a command's argv, known by the program and the option that takes them, whatever their
 * strength or quoting: `sshpass -p 'Xy7#kL9!'`, `mysql -p'…'`, `redis-cli -a`, `ldapsearch -w`,
 * `smbclient -U user%pw`, `openssl enc -k`, `zip -P`, `7z -p…`, `docker login -p`, and every
 * `--password`/`--token`-like long option of any program. Run on the argv itself, before it is
 * quoted into the audit trail's command line (which the text rules then redact as well).
 */
import { basename } from "node:path";

/** How an option takes its value: the next word, joined to it (`-pX`, `--pass=X`), or either. */
type Take = "next" | "joined" | "either";

interface OptionRule {
  take: Take;
  /** The secret is this group of the value (`user%(pw)`, `pass:(pw)`); else the whole value. */
  secret?: RegExp;
  /** Only when one of the program's earlier words matches (`docker login -p`, not `docker run -p`). */
  after?: RegExp;
}

type Rules = Record<string, OptionRule>;

const MARK = "[REDACTED:cli-credential]";
const either = (secret?: RegExp, after?: RegExp): OptionRule => ({
  take: "either",
  ...(secret ? { secret } : {}),
  ...(after ? { after } : {}),
});
const next: OptionRule = { take: "next" };
const joined: OptionRule = { take: "joined" };
const LOGIN = /^login$/;
const SECRET_ENV =
  /^[\w.-]*(?:pass(?:word|wd)?|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)=(.+)$/is;

const family = (names: string, rules: Rules): [string, Rules][] =>
  names.split(" ").map((name) => [name, rules]);

/** Programs and the options that take a secret (short options are case-sensitive). */
const PROGRAMS = new Map<string, Rules>([
  ["sshpass", { "-p": either() }],
  ...family("mysql mysqldump mysqladmin mysqlimport mysqlshow mysqlcheck mariadb mariadb-dump", {
    "-p": joined,
  }),
  ...family("docker podman nerdctl buildah skopeo helm oras crane regctl cf oc az finch", {
    "-p": either(undefined, LOGIN),
    "-e": either(SECRET_ENV),
    "--env": either(SECRET_ENV),
  }),
  ["kubectl", { "--from-literal": either(/^[^=]*=(.+)$/s) }],
  ["redis-cli", { "-a": either() }],
  ...family("ldapsearch ldapadd ldapmodify ldapdelete ldapwhoami ldapcompare ldapmodrdn ldapexop", {
    "-w": either(),
  }),
  ["ldappasswd", { "-w": either(), "-a": either(), "-s": either() }],
  ...family("smbclient rpcclient smbcacls smbget smbmap net", {
    "-U": either(/%(.+)$/s),
    "--user": either(/%(.+)$/s),
  }),
  [
    "openssl",
    {
      "-k": next,
      "-K": next,
      "-pass": either(/^pass:(.+)$/s),
      "-passin": either(/^pass:(.+)$/s),
      "-passout": either(/^pass:(.+)$/s),
    },
  ],
  ...family("zip unzip zipcloak", { "-P": next }),
  ...family("7z 7za 7zr 7zz rar unrar", { "-p": joined }),
  ...family("sqlcmd bcp", { "-P": either() }),
  ["ipmitool", { "-P": either() }],
  ...family("mongo mongosh mongodump mongorestore mongoexport mongoimport", { "-p": next }),
  ...family("keytool jarsigner", {
    "-storepass": next,
    "-keypass": next,
    "-srcstorepass": next,
    "-deststorepass": next,
    "-srckeypass": next,
    "-destkeypass": next,
  }),
  ...family("snmpwalk snmpget snmpset snmpbulkwalk snmpgetnext snmptrap", {
    "-A": either(),
    "-X": either(),
    "-c": either(),
  }),
  ...family("xfreerdp wlfreerdp sdl-freerdp", { "/p:": joined }),
  ["lftp", { "-u": either(/^[^,]*,(.+)$/s) }],
]);

/**
 * A long option of any program whose name says it takes a secret (`--password`, `--db-pass`,
 * `--api-key`, `--client-secret`, `--token`), not one that names where it is (`--password-file`,
 * `--token-stdin`) or turns it off (`--no-password`).
 */
const SECRET_LONG =
  /^--(?!no-)[\w-]*(?:pass(?:word|wd)?|pwd|passphrase|secret|token|api-?key|access-?key|private-?key|auth-?key)$/i;

/** Where in `argv[i]` a secret starts (an index into it), for the rule that takes it. */
interface Hit {
  index: number;
  /** The secret is `argv[index].slice(from, to)`. */
  from: number;
  to: number;
}

/** The value `rule` takes, and its place, as a hit (its `secret` group, if it has one). */
function valueHit(argv: readonly string[], index: number, from: number, rule: OptionRule): Hit | undefined {
  const word = argv[index];
  if (word === undefined || from >= word.length) return undefined;
  const value = word.slice(from);
  if (!rule.secret) return { index, from, to: word.length };
  const m = new RegExp(rule.secret.source, `${rule.secret.flags}d`).exec(value);
  const span = m?.indices?.[1];
  return span ? { index, from: from + span[0], to: from + span[1] } : undefined;
}

/** The secret the word at `i` (an option of a program with `rules`) carries or announces. */
function optionHit(argv: readonly string[], i: number, rules: Rules, start: number): Hit | undefined {
  const word = argv[i] as string;
  const eq = word.startsWith("--") ? word.indexOf("=") : -1;
  const name = eq > 0 ? word.slice(0, eq) : word;
  const rule = rules[name];
  if (rule && (!rule.after || argv.slice(start, i).some((w) => rule.after?.test(w)))) {
    if (eq > 0) return valueHit(argv, i, eq + 1, rule);
    return rule.take === "joined" ? undefined : valueHit(argv, i + 1, 0, rule);
  }
  if (SECRET_LONG.test(name))
    return eq > 0 ? valueHit(argv, i, eq + 1, either()) : valueHit(argv, i + 1, 0, either());
  // A short option with its value joined to it: `-pSECRET`, `-Uuser%pw`, `/p:SECRET`.
  for (const [option, joinedRule] of Object.entries(rules)) {
    if (joinedRule.take === "next" || option.startsWith("--") || word === option || !word.startsWith(option))
      continue;
    if (joinedRule.after && !argv.slice(start, i).some((w) => joinedRule.after?.test(w))) continue;
    return valueHit(argv, i, option.length, joinedRule);
  }
  return undefined;
}

/** `htpasswd -b[…] file user PASSWORD` (or `-nb user PASSWORD`): the last word is the password. */
function htpasswdHit(argv: readonly string[], start: number): Hit | undefined {
  const words = argv.slice(start);
  if (!words.some((w) => /^-[a-zA-Z]*b/.test(w)) || words.length === 0) return undefined;
  const index = argv.length - 1;
  return (argv[index] as string).startsWith("-")
    ? undefined
    : { index, from: 0, to: (argv[index] as string).length };
}

/** The secrets in `argv`, by the rules of each known program in it (after wrappers: `sudo mysql -p…`). */
function argvHits(argv: readonly string[]): Hit[] {
  const hits: Hit[] = [];
  let rules: Rules = {};
  let start = 0;
  for (let i = 0; i < argv.length; i++) {
    const program = basename(argv[i] as string);
    const known = PROGRAMS.get(program);
    if (known) {
      rules = known;
      start = i + 1;
      continue;
    }
    if (program === "htpasswd") {
      const hit = htpasswdHit(argv, i + 1);
      if (hit) hits.push(hit);
      continue;
    }
    if (!(argv[i] as string).startsWith("-") && !(argv[i] as string).startsWith("/p:")) continue;
    const hit = optionHit(argv, i, rules, start);
    if (hit) {
      hits.push(hit);
      if (hit.index > i) i = hit.index;
    }
  }
  return hits;
}

/** `argv` with the secrets its programs' options carry replaced by `[REDACTED:cli-credential]`. */
export function redactArgv(argv: readonly string[]): string[] {
  const out = [...argv];
  for (const { index, from, to } of argvHits(argv)) {
    const word = argv[index] as string;
    out[index] = `${word.slice(0, from)}${MARK}${word.slice(to)}`;
  }
  return out;
}

/** A known program's name as a word of a text, a space after it. */
const PROGRAM_NAME = new RegExp(
  `(?:${[...PROGRAMS.keys(), "htpasswd"]
    .sort((a, b) => b.length - a.length)
    .map((n) => n.replace(/[.-]/g, "\\$&"))
    .join("|")})(?=[ \\t])`,
  "g",
);

/** A shell word: its text unquoted, and where each of its characters (and its end) is in the line. */
interface Word {
  text: string;
  at: number[];
}

/**
 * The words of `text` from `start` to the end of its command (a newline, `|`, `;`, `&`), unquoted,
 * and where that end is.
 */
function wordsFrom(text: string, start: number): { words: Word[]; end: number } {
  const words: Word[] = [];
  let word: Word | undefined;
  let quote = "";
  let i = start;
  for (; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "\n" || (!quote && (c === "|" || c === ";" || c === "&"))) break;
    if (!quote && (c === " " || c === "\t")) {
      if (word) words.push(word);
      word = undefined;
      continue;
    }
    word ??= { text: "", at: [] };
    if (quote ? c === quote : c === "'" || c === '"') {
      quote = quote ? "" : c;
      continue;
    }
    word.text += c;
    word.at.push(i);
  }
  if (word) words.push(word);
  for (const w of words) w.at.push((w.at[w.at.length - 1] ?? 0) + 1);
  return { words, end: i };
}

/**
 * The secrets known programs' options carry in a text (a script, shell history, a log of commands):
 * the same rules as redactArgv, on the words after each program's name up to the end of its command.
 */
export function commandLineSecrets(text: string): { start: number; end: number; name: string }[] {
  const found: { start: number; end: number; name: string }[] = [];
  PROGRAM_NAME.lastIndex = 0;
  for (let m = PROGRAM_NAME.exec(text); m !== null; m = PROGRAM_NAME.exec(text)) {
    const before = text[m.index - 1];
    if (before !== undefined && /[\w.-]/.test(before) && text[m.index - 1] !== "m") continue;
    const { words, end } = wordsFrom(text, m.index);
    for (const hit of argvHits(words.map((w) => w.text))) {
      const word = words[hit.index] as Word;
      if (word.text.startsWith("[REDACTED:", hit.from)) continue; // redacted on the argv already
      const at = word.at;
      found.push({
        start: at[hit.from] as number,
        end: (at[hit.to - 1] as number) + 1,
        name: "cli-credential",
      });
    }
    // The command's words are read once: a program named among them (`sudo mysql -p…`) is known
    // there already (linear: `zip zip zip …` is not read again from each name).
    PROGRAM_NAME.lastIndex = Math.max(end, m.index + m[0].length);
  }
  return found;
}

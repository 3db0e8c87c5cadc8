/**
 * Adversarial inputs for a regular expression, made from its own source: its prefix repeated, long
 * runs of each of its character classes (alone, after the prefix, and cut short of what must follow
 * them), and near-misses (a whole example less its last part) repeated. They are what drives a
 * backtracking engine into super-linear time (`'eyJ'.repeat(n)` against a JWT pattern). The
 * linearity test runs every redaction pattern on them at two sizes; nothing in production imports it.
 */
import { Gen, seededRandom } from "./random.ts";

/** A parsed expression: enough of the syntax the patterns use to generate strings from it. */
type Node =
  | { kind: "chars"; chars: string }
  | { kind: "seq"; items: Node[] }
  | { kind: "alt"; options: Node[] }
  | { kind: "rep"; node: Node; min: number; max: number }
  | { kind: "empty" };

/** Printable ASCII, tab and newline: the characters a set is sampled from. */
const UNIVERSE = [..."\t\n"].concat(Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)));

/** The characters of UNIVERSE that an atom (`[a-z]`, `\d`, `.`, `x`) matches. */
function charsOf(atom: string, ignoreCase: boolean): string {
  const re = new RegExp(`^(?:${atom})$`, ignoreCase ? "i" : "");
  const chars = UNIVERSE.filter((c) => re.test(c)).join("");
  return chars === "" ? "x" : chars;
}

class Parser {
  #at = 0;
  readonly #src: string;
  readonly #ignoreCase: boolean[];

  constructor(src: string, ignoreCase: boolean) {
    this.#src = src;
    this.#ignoreCase = [ignoreCase];
  }

  parse(): Node {
    const node = this.#alt();
    if (this.#at < this.#src.length) throw new Error(`unparsed at ${this.#at}: ${this.#src.slice(this.#at)}`);
    return node;
  }

  #alt(): Node {
    const options = [this.#seq()];
    while (this.#src[this.#at] === "|") {
      this.#at++;
      options.push(this.#seq());
    }
    return options.length === 1 ? (options[0] as Node) : { kind: "alt", options };
  }

  #seq(): Node {
    const items: Node[] = [];
    while (this.#at < this.#src.length && this.#src[this.#at] !== "|" && this.#src[this.#at] !== ")") {
      items.push(this.#quantified(this.#atom()));
    }
    return { kind: "seq", items };
  }

  #quantified(node: Node): Node {
    const rest = this.#src.slice(this.#at);
    const q = /^(?:([*+?])|\{(\d+)(?:(,)(\d*))?\})\??/.exec(rest);
    if (!q) return node;
    this.#at += q[0].length;
    if (q[1] === "*") return { kind: "rep", node, min: 0, max: Infinity };
    if (q[1] === "+") return { kind: "rep", node, min: 1, max: Infinity };
    if (q[1] === "?") return { kind: "rep", node, min: 0, max: 1 };
    const min = Number(q[2]);
    const max = q[3] === undefined ? min : q[4] === "" ? Infinity : Number(q[4]);
    return { kind: "rep", node, min, max };
  }

  #atom(): Node {
    const src = this.#src;
    const c = src[this.#at] as string;
    if (c === "(") return this.#group();
    if (c === "[") {
      let end = this.#at + 1;
      while (src[end] !== "]") end += src[end] === "\\" ? 2 : 1;
      const atom = src.slice(this.#at, end + 1);
      this.#at = end + 1;
      return { kind: "chars", chars: charsOf(atom, this.#caseless()) };
    }
    if (c === "^" || c === "$") {
      this.#at++;
      return { kind: "empty" };
    }
    if (c === "\\") {
      const next = src[this.#at + 1] as string;
      const len = next === "u" ? 6 : next === "x" ? 4 : 2;
      const atom = src.slice(this.#at, this.#at + len);
      this.#at += len;
      // Word boundaries and back-references: zero-width here (a back-reference repeats a part).
      if (/^\\[bB1-9]$/.test(atom)) return { kind: "empty" };
      return { kind: "chars", chars: charsOf(atom, this.#caseless()) };
    }
    this.#at++;
    return { kind: "chars", chars: c === "." ? charsOf(".", false) : charsOf(`\\${c}`, this.#caseless()) };
  }

  #group(): Node {
    const head = /^\((\?(?:<?[=!]|:|<[A-Za-z]\w*>|[ims-]+:))?/.exec(this.#src.slice(this.#at))?.[0] ?? "(";
    this.#at += head.length;
    const flags = /^\(\?([ims-]+):/.exec(head)?.[1];
    this.#ignoreCase.push(flags ? /^[^-]*i/.test(flags) : this.#caseless());
    const inner = this.#alt();
    this.#ignoreCase.pop();
    this.#at++; // ")"
    // A look-around matches no characters.
    return /^\(\?<?[=!]/.test(head) ? { kind: "empty" } : inner;
  }

  #caseless(): boolean {
    return this.#ignoreCase[this.#ignoreCase.length - 1] ?? false;
  }
}

export function parsePattern(pattern: RegExp): Node {
  return new Parser(pattern.source, pattern.flags.includes("i")).parse();
}

/** Where a string made from the expression stops at the chosen repetition. */
interface Plan {
  /** The repetition to inflate (the index of a `rep` node in document order), or -1. */
  target: number;
  /** How many times the target repeats (fewer than its minimum makes a near-miss). */
  length: number;
  /** Stop right after the target (the rest, which must follow it, is missing). */
  cut: boolean;
}

/** Items of a long run made one by one; the run repeats them (a prime: no period of the pattern's). */
const CHUNK = 1021;

/** A string the expression would match (look-arounds aside), its target repetition inflated. */
function make(node: Node, r: Gen, plan: Plan): string {
  let rep = -1;
  let stopped = false;
  const walk = (n: Node): string => {
    if (stopped) return "";
    switch (n.kind) {
      case "empty":
        return "";
      case "chars":
        return r.pick([...n.chars]);
      case "seq":
        return n.items.map(walk).join("");
      case "alt":
        return walk(n.options[0] as Node);
      case "rep": {
        rep++;
        const inflate = rep === plan.target;
        const times = inflate ? plan.length : n.min === 0 && n.max > 1 ? 1 : n.min;
        let out = "";
        for (let i = 0; i < Math.min(times, CHUNK) && !stopped; i++) out += walk(n.node);
        // A long run: its first CHUNK items repeated (random enough, and quick to make).
        if (times > CHUNK) out = out.repeat(Math.ceil(times / CHUNK));
        if (inflate && plan.cut) stopped = true;
        return out;
      }
    }
  };
  return walk(node);
}

/** Repetitions in document order, with whether each may run long (at least 8 times). */
function repetitions(node: Node): boolean[] {
  const out: boolean[] = [];
  const walk = (n: Node): void => {
    if (n.kind === "seq") n.items.forEach(walk);
    else if (n.kind === "alt") walk(n.options[0] as Node);
    else if (n.kind === "rep") {
      out.push(n.max >= 8);
      walk(n.node);
    }
  };
  walk(node);
  return out;
}

/** `unit` repeated (or cut) to `size` characters. */
const fill = (unit: string, size: number) =>
  unit.length === 0 ? "" : unit.repeat(Math.ceil(size / unit.length)).slice(0, size);

export interface Adversarial {
  /** What the input is, for a failure message. */
  name: string;
  /** The input at `size` characters. */
  make(size: number): string;
}

/**
 * Inputs that drive `pattern` hard: for each repetition that can run long, a long run of it (the
 * match completed after it, or cut right after it), and short runs cut after it repeated; the part
 * before the first repetition repeated (`eyJeyJeyJ…`); a whole example, and one less its last
 * character, repeated with and without a space between.
 */
export function adversarialInputs(pattern: RegExp, seed = 1): Adversarial[] {
  const tree = parsePattern(pattern);
  const gen = (plan: Plan) => make(tree, new Gen(seededRandom(seed)), plan);
  const out: Adversarial[] = [];
  const reps = repetitions(tree);
  reps.forEach((long, target) => {
    if (!long) return;
    for (const cut of [true, false]) {
      out.push({
        name: `repetition ${target} run long${cut ? ", cut after it" : ""}`,
        make: (size) => fill(gen({ target, length: size, cut }), size),
      });
    }
    for (const length of [8, 40]) {
      out.push({
        name: `repetition ${target} run ${length}, cut after it, repeated`,
        make: (size) => fill(gen({ target, length, cut: true }), size),
      });
    }
  });
  const prefix = gen({ target: reps.findIndex((long) => long), length: 0, cut: true });
  if (prefix !== "")
    out.push({ name: `prefix ${JSON.stringify(prefix)} repeated`, make: (s) => fill(prefix, s) });
  const example = gen({ target: -1, length: 0, cut: false });
  for (const [name, unit] of [
    ["example repeated", example],
    ["example less its last character repeated", example.slice(0, -1)],
    ["example and a space repeated", `${example} `],
    ["example less its last character and a space repeated", `${example.slice(0, -1)} `],
  ] as const) {
    if (unit.trim() !== "") out.push({ name, make: (s) => fill(unit, s) });
  }
  return out;
}

/** Inputs that concern no one pattern: long runs of one character, of separators, of escapes. */
export const GENERIC_INPUTS: readonly Adversarial[] = [
  "a",
  "A",
  "0",
  " ",
  "\n",
  "=",
  ":",
  "-",
  "/",
  "\\",
  '"',
  "%25",
  "\\u00",
  'token: "',
  "password=",
  "Password=;",
  "http://a:b@",
  "-----BEGIN PRIVATE KEY-----\n",
  "private_key: |\n  x\n",
  "x|\n",
  "00000000: 4141 4141 4141 4141  AAAAAAAA\n",
  "Authorization: Bearer ",
  "sshpass -p ",
  "mysql -p",
  "zip -P x ",
  "smbclient -U a%",
  "sudo mysql -p'",
  "echo x | sudo -S ",
  "Authorization: Token ",
  "é",
].map((unit) => ({ name: `${JSON.stringify(unit)} repeated`, make: (size: number) => fill(unit, size) }));

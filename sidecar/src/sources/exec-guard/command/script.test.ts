import { describe, expect, it } from "vitest";
import { expandBraces } from "./analyze.ts";
import { readOptions } from "./options.ts";
import { roughCommands, staticWord } from "./script.ts";
import { ansiC } from "./words.ts";

describe("the pieces the policy reads words with", () => {
  it("expands braces as bash does, bounded", () => {
    expect(expandBraces("{rm,-rf}")).toEqual(["rm", "-rf"]);
    expect(expandBraces("a{b,c}d{1,2}")).toEqual(["abd1", "abd2", "acd1", "acd2"]);
    expect(expandBraces("plain")).toEqual(["plain"]);
    expect(expandBraces("{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}")).toHaveLength(64);
  });

  it("undoes $'...' escapes, and gives up on those it does not know", () => {
    expect(ansiC("\\x72\\155 \\t\\\\")).toBe("rm \t\\");
    expect(ansiC("\\u0072m")).toBeUndefined();
  });

  it("reads getopt-style options: values attached or apart, combined letters, --", () => {
    const words = (...w: string[]) => w.map(staticWord);
    expect(readOptions(words("-n", "5", "rm"), { short: "n" }).rest).toBe(2);
    expect(readOptions(words("-n5", "rm"), { short: "n" }).rest).toBe(1);
    expect(readOptions(words("-vk1", "5"), { short: "k" }).seen.get("k")).toBe("1");
    expect(readOptions(words("--signal=KILL", "--", "-x"), { long: ["signal"] }).rest).toBe(2);
    expect(readOptions([{ text: "$OPT", dynamic: "$OPT" }], {}).dynamic).toBe("$OPT");
  });

  it("guesses the commands of a script the parser cannot read from its text", () => {
    const argvs = roughCommands("{rm,-rf} x; if true; then FOO=1 'r'm \"a b\"; fi | $(zap y)").map((c) =>
      c.argv.map((w) => w.text),
    );
    expect(argvs).toEqual([["{rm,-rf}", "x"], ["true"], ["rm", "a b"], ["zap", "y"]]);
  });
});

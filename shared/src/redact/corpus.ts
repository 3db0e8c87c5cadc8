/**
 * A generator of fresh secrets in the formats their issuers use, placed in the kinds of line that
 * commands print, and of ordinary lines that must come through untouched. It measures the redactor
 * (tests and `pnpm bench`); nothing in production imports it.
 *
 * Every secret is made anew from a seeded generator (the seed is printed by whoever reports a miss),
 * with the issuer's prefix, length, alphabet and, where the format has one, checksum.
 */
import { FAMILIES } from "./corpus/families.ts";
import { Gen, seededRandom } from "./corpus/random.ts";
import { SHAPES } from "./corpus/shapes.ts";

export { measureRecall, measureUntouched, type RecallReport } from "./corpus/measure.ts";
export { ordinaryCorpus } from "./corpus/ordinary.ts";
export { base62Checksum, crc32, seededRandom } from "./corpus/random.ts";
export { FAMILIES, SHAPES };

export interface Sample {
  family: string;
  shape: string;
  /** The text as a command would print it (one line, or a few for a PEM block). */
  text: string;
  /** Parts that must not survive redaction. */
  secrets: string[];
}

/** Every family in every shape it can stand in, `rounds` times over with fresh secrets. */
export function secretCorpus(seed: number, rounds = 1): Sample[] {
  const r = new Gen(seededRandom(seed));
  const out: Sample[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const family of FAMILIES) {
      for (const shape of SHAPES) {
        if (family.keyed && !shape.named) continue;
        if (family.multiline && !shape.multiline) continue;
        if (family.shapes ? !family.shapes.includes(shape.name) : shape.file) continue;
        if (family.bounded && shape.glued) continue;
        const made = family.make(r);
        const secrets = made.secrets ?? [made.value];
        const placed = shape.place(r, family.key, made.value, secrets);
        out.push({
          family: family.name,
          shape: shape.name,
          ...(typeof placed === "string" ? { text: placed, secrets } : placed),
        });
      }
    }
  }
  return out;
}

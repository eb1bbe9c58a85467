/**
 * Structure-aware input generators for test/fuzz/fuzz.test.ts (issue #16): every input starts
 * from a VALID wire object (made once per run from a real proof) and is mutated where
 * decoders break: wrong types, integers at the 2^64 / 2^256 / BN254 edges, negatives,
 * hex of the wrong length, deep nesting, long and non-ASCII strings, missing and extra
 * fields, `__proto__` keys; or its encoding is broken (base64 garbage, truncated or
 * flipped JSON text, oversize values).
 */
import fc from "fast-check";

import { SNARK_SCALAR_FIELD } from "../../sdk/core/field.js";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

const P = SNARK_SCALAR_FIELD;
const big = (x: bigint) => x.toString();

/** Integers as decimal strings at the edges the contracts and the curve care about. */
const EDGE_DECIMALS: string[] = [
  "0",
  "1",
  "-1",
  "-0",
  big(2n ** 53n + 1n),
  big(2n ** 64n - 1n),
  big(2n ** 64n),
  big(2n ** 128n),
  big(2n ** 160n),
  big(2n ** 255n),
  big(2n ** 256n - 1n),
  big(2n ** 256n),
  big(P - 1n),
  big(P),
  big(P + 1n),
  "9".repeat(78),
  "9".repeat(79),
  "1".repeat(500),
  "0".repeat(77) + "1",
  " 1",
  "1 ",
  "+1",
  "1e3",
  "1.5",
  "0x10",
  "0b1",
  "Infinity",
  "NaN",
  "１２", // full-width digits
  "١٢", // Arabic-Indic digits
  "",
];

/** Numbers as JSON numbers at the edges (JSON has no NaN/Infinity: those become null). */
const EDGE_NUMBERS: number[] = [
  0,
  -0,
  -1,
  1.5,
  2 ** 31,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53 + 2,
  2 ** 64,
  2 ** 256,
  1e308,
  -1e308,
  5e-324,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
];

const hexDigits = fc.stringMatching(/^[0-9a-fA-F]{0,140}$/);

/** Hex strings of every length around the ones the schemas want (16, 20, 32 bytes). */
const hexish: fc.Arbitrary<string> = fc.oneof(
  hexDigits.map((h) => `0x${h}`),
  fc.constantFrom(15, 16, 17, 19, 20, 21, 31, 32, 33, 64, 513).map((n) => `0x${"ab".repeat(n)}`),
  fc.constantFrom(32, 40, 63, 64, 65).map((n) => `0x${"a".repeat(n)}`), // odd lengths included
  hexDigits.map((h) => `0X${h}`),
  hexDigits, // no prefix
  fc.constant(`0x${"zz".repeat(32)}`),
);

/** Strings that are not what anyone expects: unicode, control characters, lone surrogates, long. */
const oddStrings: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.string({ unit: "grapheme", maxLength: 32 }),
  fc.constantFrom(
    "\u0000",
    "\ud800",
    "\udfff\ud800",
    "\u202e",
    "\ufeff1",
    "💸",
    "é".normalize("NFD"),
    "server",
    "client",
    "zk-exact",
    "exact",
    "__proto__",
    "constructor",
    "toString",
  ),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => "a".repeat(n)),
);

/** `depth` levels of arrays or objects around `leaf`. */
export function nest(depth: number, leaf: Json = 1, kind: "array" | "object" = "array"): Json {
  let v: Json = leaf;
  for (let i = 0; i < depth; i++) v = kind === "array" ? [v] : { a: v };
  return v;
}

/** An object with an own `__proto__` (or other dangerous) key, as JSON.parse makes one. */
function withKey(obj: Record<string, Json>, key: string, value: Json): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(obj))
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true });
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

/** Marker of a deeply nested value, expanded by {@link toText}: `${DEEP}<depth>:<a|o>`. */
const DEEP = "\u0000deep:";

/**
 * JSON text of a generated value, deep markers expanded into `depth` nested arrays or
 * objects (built as text: JSON.stringify would overflow the stack on them, JSON.parse
 * does not).
 */
export function toText(v: Json): string {
  return JSON.stringify(v).replace(/"\\u0000deep:(\d+):([ao])"/g, (_m, d: string, k: string) => {
    const n = Number(d);
    return k === "a" ? "[".repeat(n) + "1" + "]".repeat(n) : '{"a":'.repeat(n) + "1" + "}".repeat(n);
  });
}

/** A mutated value as the receiver gets it: through JSON text (deep markers expanded). */
export const viaJson = (v: Json): unknown => JSON.parse(toText(v));

/** A replacement value for any field: the catalogue of things decoders get wrong. */
export const nastyValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...EDGE_DECIMALS) },
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_NUMBERS) },
  { weight: 2, arbitrary: fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }).map((b) => b.toString()) },
  { weight: 2, arbitrary: fc.integer().map((n) => n as Json) },
  { weight: 3, arbitrary: hexish },
  { weight: 3, arbitrary: oddStrings },
  { weight: 2, arbitrary: fc.constantFrom<Json>(null, true, false, [], {}, [[]], [null], { "": null }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(10, 100), fc.constantFrom<"array" | "object">("array", "object"))
      .map(([d, k]) => nest(d, 1, k)),
  },
  // Deeper than JSON.stringify can recurse here: a marker that toText() expands.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(1_000, 3_000, 20_000), fc.constantFrom("a", "o"))
      .map(([d, k]) => `${DEEP}${d}:${k}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom("__proto__", "constructor", "prototype", "toJSON", "valueOf"),
        fc.jsonValue({ maxDepth: 2 }),
      )
      .map(([k, v]) => withKey({}, k, { polluted: v as Json, isAdmin: true })),
  },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
);

/** Every path in `v` (the root is []). */
export function pathsOf(v: Json, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...pathsOf(x, [...prefix, i])));
  else if (v !== null && typeof v === "object")
    for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...prefix, k]));
  return out;
}

/** A copy of `v` with the node at `p` replaced by `f(node)` (undefined: removed). */
function updateAt(v: Json, p: Path, f: (node: Json) => Json | undefined): Json {
  if (p.length === 0) return f(v) ?? null;
  const [k, ...rest] = p;
  if (Array.isArray(v)) {
    const out = [...v];
    const next = rest.length === 0 ? f(out[k as number]!) : updateAt(out[k as number]!, rest, f);
    if (next === undefined) out.splice(k as number, 1);
    else out[k as number] = next;
    return out;
  }
  const obj = v as Record<string, Json>;
  const next = rest.length === 0 ? f(obj[k as string]!) : updateAt(obj[k as string]!, rest, f);
  const out: Record<string, Json> = {};
  for (const [key, val] of Object.entries(obj)) {
    if (key !== k) Object.defineProperty(out, key, { value: val, enumerable: true, writable: true });
    else if (next !== undefined) Object.defineProperty(out, key, { value: next, enumerable: true, writable: true });
  }
  return out;
}

/** One structural edit of a JSON value, applied at a path chosen among `paths`. */
type Edit = (v: Json) => Json;

function editArb(paths: Path[]): fc.Arbitrary<Edit> {
  const path = fc.constantFrom(...paths);
  return fc.oneof(
    // Replace a field (or the whole value) with something nasty.
    {
      weight: 10,
      arbitrary: fc.tuple(path, nastyValue).map(
        ([p, x]): Edit =>
          (v) =>
            updateAt(v, p, () => x),
      ),
    },
    // Remove it.
    {
      weight: 3,
      arbitrary: path.map(
        (p): Edit =>
          (v) =>
            p.length === 0 ? null : updateAt(v, p, () => undefined),
      ),
    },
    // Same value, other type: "12" <-> 12, x -> [x], x -> {x}.
    {
      weight: 3,
      arbitrary: fc.tuple(path, fc.constantFrom("num", "str", "arr", "obj")).map(
        ([p, how]): Edit =>
          (v) =>
            updateAt(v, p, (n) => {
              if (how === "num") return typeof n === "string" ? Number(n) : n;
              if (how === "str") return typeof n === "object" ? JSON.stringify(n) : String(n);
              if (how === "arr") return [n];
              return { value: n };
            }),
      ),
    },
    // An extra key in an object (possibly __proto__), an extra element in an array.
    {
      weight: 3,
      arbitrary: fc
        .tuple(path, fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("__proto__", "constructor")), nastyValue)
        .map(
          ([p, key, x]): Edit =>
            (v) =>
              updateAt(v, p, (n) => {
                if (Array.isArray(n)) return [...n, x];
                if (n !== null && typeof n === "object") return withKey(n, key, x);
                return n;
              }),
        ),
    },
    // A small change of a string: a digit more or less, a flipped character, a case change.
    {
      weight: 4,
      arbitrary: fc.tuple(path, fc.nat(), fc.constantFrom("append", "drop", "flip", "case", "upper", "neg")).map(
        ([p, i, how]): Edit =>
          (v) =>
            updateAt(v, p, (n) => {
              if (typeof n !== "string") return n;
              const at = n.length ? i % n.length : 0;
              if (how === "append") return `${n}0`;
              if (how === "drop") return n.slice(0, -1);
              if (how === "upper") return n.toUpperCase();
              if (how === "neg") return `-${n}`;
              // One letter's case: a mixed-case address with a wrong EIP-55 checksum.
              if (how === "case") {
                const j = n.slice(at).search(/[a-fA-F]/);
                if (j < 0) return n;
                const c = n[at + j]!;
                return (
                  n.slice(0, at + j) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + n.slice(at + j + 1)
                );
              }
              return n.slice(0, at) + (n[at] === "1" ? "2" : "1") + n.slice(at + 1);
            }),
      ),
    },
  );
}

/** The valid value with 1 to 3 structural edits. */
export function mutatedJson(base: Json): fc.Arbitrary<Json> {
  const paths = pathsOf(base);
  return fc.array(editArb(paths), { minLength: 1, maxLength: 3 }).map((edits) => {
    let v = base;
    for (const e of edits) {
      // A later edit's path may no longer exist after an earlier one: it is skipped.
      try {
        v = e(v);
      } catch {
        /* path gone */
      }
    }
    return v;
  });
}

/** JSON text broken at the character level: truncated, characters flipped, inserted or removed. */
export function brokenJsonText(base: Json): fc.Arbitrary<string> {
  const text = JSON.stringify(base);
  return fc.oneof(
    fc.nat({ max: text.length }).map((n) => text.slice(0, n)),
    fc
      .array(
        fc.tuple(fc.nat({ max: text.length - 1 }), fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 2 })),
        {
          minLength: 1,
          maxLength: 4,
        },
      )
      .map((edits) => {
        let t = text;
        for (const [at, s] of edits) t = t.slice(0, at) + s + t.slice(at + 1);
        return t;
      }),
    fc.nat({ max: text.length - 1 }).map((at) => text.slice(0, at) + text.slice(at + 1)),
    fc.constantFrom(`${text}${text}`, `[${text}]`, `${text},`, text.replace(/"/g, "'"), `\ufeff${text}`),
  );
}

/** Base64 of a UTF-8 string. */
export const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** Characters a header value may carry (node refuses others client-side). */
function headerSafe(s: string): string {
  return s.replace(/[^\t\x20-\x7e\x80-\xff]/g, "?");
}

/**
 * A header value that carries base64 JSON (PAYMENT-SIGNATURE, zk-session): the valid
 * object mutated and encoded, its JSON text broken, or base64 garbage and oversize values.
 */
export function base64JsonHeader(base: Json, opts: { maxBytes: number }): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 14, arbitrary: mutatedJson(base).map((v) => b64(toText(v))) },
    { weight: 3, arbitrary: brokenJsonText(base).map(b64) },
    // Not base64 at all, or base64 of something that is not JSON.
    { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 200 }).map(headerSafe) },
    { weight: 1, arbitrary: fc.base64String({ maxLength: 400 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u).toString("base64")) },
    {
      weight: 1,
      arbitrary: fc
        .jsonValue({ maxDepth: 3 })
        .map((v) => b64(JSON.stringify(v) ?? "null"))
        .filter((s) => s.length > 0),
    },
    // The valid header with its base64 damaged: padding, a character, URL-safe alphabet.
    {
      weight: 1,
      arbitrary: fc.tuple(fc.nat(), fc.constantFrom("=", "-", "_", "!", " ", "\t", "\xff")).map(([i, c]) => {
        const h = b64(JSON.stringify(base));
        const at = i % h.length;
        return h.slice(0, at) + c + h.slice(at + 1);
      }),
    },
    // Oversize: just over the decoder's limit, and far over it (node's own 16 KB header cap).
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(opts.maxBytes + 4, 2 * opts.maxBytes, 15 * 1024, 20 * 1024)
        .map((n) => "QUFB".repeat(Math.ceil(n / 4))),
    },
  );
}

/**
 * A JSON body: the valid object mutated, its text broken, or something else entirely
 * (another JSON value, a deeply nested one, a body over the size limit).
 */
export function jsonBody(base: Json, opts: { maxBytes: number }): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 14, arbitrary: mutatedJson(base).map(toText) },
    { weight: 3, arbitrary: brokenJsonText(base) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null") },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(1_000, 20_000, Math.min(Math.floor(opts.maxBytes / 2) - 2, 200_000))
        .map((d) => "[".repeat(d) + "]".repeat(d)),
    },
    { weight: 1, arbitrary: fc.constant(`"${"a".repeat(opts.maxBytes)}"`) }, // just over the limit
  );
}

/**
 * Attribute rules (Verify & Pay): what a paid API asks of its payer's identity credential,
 * their encoding as the attribute circuit's public inputs, and the same check in the clear
 * (the wallet runs it before proving, so an unmet rule is a typed error, not a failed proof).
 *
 * Encodings: dates are YYYYMMDD integers; countries are ISO 3166-1 numeric codes 1..999;
 * a country set is a 1024-bit mask in 8 words of 128 bits (bit `code mod 128` of word
 * `code div 128`); flags are an issuer-defined bit field below 2^64.
 *
 * Browser-safe: no Node imports.
 */
import { ZkPayError } from "../errors.js";
import type { AttributeClaims } from "./credential.js";
import { isValidYmd } from "./dates.js";

export { isValidYmd, ymdOf } from "./dates.js";

/** A rule of a paid route. Every part is optional; an empty rule only proves a valid, unrevoked credential. */
export interface AttributeRule {
  /** The holder is at least this many full years old at `today` (0..255). */
  minAge?: number;
  /** `allow`: the holder's country is one of `codes`; `block`: it is none of them. */
  countries?: { mode: "allow" | "block"; codes: number[] };
  /** Every bit set here is set in the credential's flags (< 2^64). */
  requiredFlags?: bigint;
}

/** Number of 128-bit words of a country mask. */
export const COUNTRY_MASK_WORDS = 8;

const MAX_FLAGS = 1n << 64n;

function isCountryCode(c: unknown): c is number {
  return typeof c === "number" && Number.isInteger(c) && c >= 1 && c <= 999;
}

/**
 * The 8-word country mask of a set of ISO 3166-1 numeric codes (1..999): bit `c mod 128`
 * of word `c div 128`. Throws `invalid_argument` naming a bad code.
 *
 * @example
 * countryMaskOf([276, 250]); // Germany and France
 */
export function countryMaskOf(codes: readonly number[]): bigint[] {
  const mask = new Array<bigint>(COUNTRY_MASK_WORDS).fill(0n);
  for (const c of codes) {
    if (!isCountryCode(c)) {
      throw new ZkPayError("invalid_argument", `country code ${String(c)} is not an ISO 3166-1 numeric code (1..999)`, {
        field: "countries",
      });
    }
    mask[Math.floor(c / 128)]! |= 1n << BigInt(c % 128);
  }
  return mask;
}

/** Throws `invalid_argument` unless `r` is a well-formed rule. */
function checkRuleShape(r: AttributeRule): void {
  if (r === null || typeof r !== "object") throw new ZkPayError("invalid_argument", "a rule must be an object");
  if (r.minAge !== undefined && !(Number.isInteger(r.minAge) && r.minAge >= 0 && r.minAge <= 255)) {
    throw new ZkPayError("invalid_argument", "rule.minAge must be an integer 0..255", { field: "minAge" });
  }
  if (r.countries !== undefined) {
    if (r.countries.mode !== "allow" && r.countries.mode !== "block") {
      throw new ZkPayError("invalid_argument", 'rule.countries.mode must be "allow" or "block"', {
        field: "countries",
      });
    }
    if (!Array.isArray(r.countries.codes)) {
      throw new ZkPayError("invalid_argument", "rule.countries.codes must be an array", { field: "countries" });
    }
  }
  if (
    r.requiredFlags !== undefined &&
    !(typeof r.requiredFlags === "bigint" && r.requiredFlags >= 0n && r.requiredFlags < MAX_FLAGS)
  ) {
    throw new ZkPayError("invalid_argument", "rule.requiredFlags must be a bigint below 2^64", {
      field: "requiredFlags",
    });
  }
}

/**
 * A rule as the attribute circuit's public inputs: minAge (0 = none), countryMode (0 none,
 * 1 allow-list, 2 block-list), the 8-word mask and requiredFlags (0 = none).
 *
 * @example
 * ruleSignals({ minAge: 18, countries: { mode: "block", codes: [408] } }).countryMode; // 2
 */
export function ruleSignals(r: AttributeRule): {
  minAge: number;
  countryMode: 0 | 1 | 2;
  countryMask: bigint[];
  requiredFlags: bigint;
} {
  checkRuleShape(r);
  return {
    minAge: r.minAge ?? 0,
    countryMode: r.countries === undefined ? 0 : r.countries.mode === "allow" ? 1 : 2,
    countryMask: countryMaskOf(r.countries?.codes ?? []),
    requiredFlags: r.requiredFlags ?? 0n,
  };
}

/**
 * Checks `claims` against `rule` at date `today` (YYYYMMDD) exactly as the circuit does.
 * Throws `attribute_credential_expired` when today > expiresAt, `rule_not_met` (its
 * message and `details.part` name the part: "age", "country" or "flags") when a part
 * fails, `invalid_argument` for a malformed rule or date.
 *
 * @example
 * checkRule(credential.claims, { minAge: 18 }, ymdOf(new Date()));
 */
export function checkRule(claims: AttributeClaims, rule: AttributeRule, today: number): void {
  if (!isValidYmd(today)) throw new ZkPayError("invalid_argument", `today ${today} is not a YYYYMMDD date`);
  const s = ruleSignals(rule);
  if (today > claims.expiresAt) {
    throw new ZkPayError(
      "attribute_credential_expired",
      `the credential expired on ${claims.expiresAt} (today is ${today})`,
      {
        expiresAt: claims.expiresAt,
        today,
      },
    );
  }
  if (claims.birthDate + s.minAge * 10000 > today) {
    throw new ZkPayError("rule_not_met", `age rule not met: the holder is under ${s.minAge}`, { part: "age" });
  }
  if (s.countryMode !== 0) {
    const bit = ((s.countryMask[Math.floor(claims.country / 128)] ?? 0n) >> BigInt(claims.country % 128)) & 1n;
    if (s.countryMode === 1 && bit !== 1n) {
      throw new ZkPayError("rule_not_met", "country rule not met: the holder's country is not in the allow-list", {
        part: "country",
      });
    }
    if (s.countryMode === 2 && bit !== 0n) {
      throw new ZkPayError("rule_not_met", "country rule not met: the holder's country is in the block-list", {
        part: "country",
      });
    }
  }
  if ((claims.flags & s.requiredFlags) !== s.requiredFlags) {
    throw new ZkPayError("rule_not_met", "flags rule not met: a required flag is missing from the credential", {
      part: "flags",
    });
  }
}

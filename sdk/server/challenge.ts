import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

import type { Hex } from "viem";

import { ZkPayError } from "../core/errors.js";
import type { Challenge } from "../core/wire.js";

/** What a challenge is bound to. */
export interface ChallengeBinding {
  network: string;
  facilitator: string;
  asset: string;
  payTo: string;
  amount: string;
  /** The route the 402 was for (e.g. "GET /weather"; `extra.route`), "" if unknown. */
  route: string;
}

/**
 * Issues and checks stateless per-request challenges. A challenge is a random id, an
 * expiry and an HMAC over both plus the price, payee, asset, network, pool and route, so
 * the server needs no state to know it issued it, and a challenge for one route cannot
 * pay for another; the replay store makes it single-use.
 *
 * @example
 * const challenges = new ChallengeIssuer({ secret: process.env.ZK402_CHALLENGE_SECRET! });
 * const c = challenges.issue(binding, 300);
 * challenges.check(c, binding); // throws ZkPayError on a forged or expired challenge
 */
export class ChallengeIssuer {
  readonly #key: Buffer;
  readonly #now: () => number;

  constructor(opts: { secret: string | Uint8Array; now?: () => number }) {
    // Configuration usually comes from the environment: a missing secret is named, not a TypeError.
    if (typeof opts.secret !== "string" && !(opts.secret instanceof Uint8Array)) {
      throw new ZkPayError("invalid_argument", "challenge secret is missing (a string or bytes, at least 16 bytes)");
    }
    const key = typeof opts.secret === "string" ? Buffer.from(opts.secret, "utf8") : Buffer.from(opts.secret);
    if (key.length < 16) throw new ZkPayError("invalid_argument", "challenge secret must be at least 16 bytes");
    this.#key = key;
    this.#now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** A fresh challenge valid for `ttlSeconds`. */
  issue(b: ChallengeBinding, ttlSeconds: number): Challenge {
    const id = `0x${randomBytes(16).toString("hex")}` as Hex;
    const exp = this.#now() + ttlSeconds;
    return { id, exp, mac: this.#mac(b, id, exp) };
  }

  /** Throws `invalid_challenge` or `challenge_expired` unless `c` is ours, for `b`, and live. */
  check(c: Challenge, b: ChallengeBinding, opts: { allowExpired?: boolean } = {}): void {
    const expected = Buffer.from(this.#mac(b, c.id, c.exp).slice(2), "hex");
    const given = Buffer.from(c.mac.slice(2), "hex");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ZkPayError(
        "invalid_challenge",
        "the payment's challenge was not issued by this server for this price and payee",
      );
    }
    if (!opts.allowExpired && c.exp < this.#now()) {
      throw new ZkPayError("challenge_expired", `the payment's challenge expired at ${c.exp}`, { exp: c.exp });
    }
  }

  /** Seconds until `c` expires (0 if it has). */
  ttl(c: Challenge): number {
    return Math.max(0, c.exp - this.#now());
  }

  #mac(b: ChallengeBinding, id: string, exp: number): Hex {
    const msg = [
      "402zk.challenge.v1",
      b.network,
      b.facilitator.toLowerCase(),
      b.asset.toLowerCase(),
      b.payTo.toLowerCase(),
      b.amount,
      b.route,
      id.toLowerCase(),
      String(exp),
    ].join("|");
    return `0x${createHmac("sha256", this.#key).update(msg).digest("hex")}`;
  }
}

/**
 * Per-issuer revocation of attribute credentials: a sparse Merkle tree of revoked
 * serials (@iden3/js-merkletree, in memory, circomlib-compatible: leaf Poseidon(key,
 * value, 1), node Poseidon(left, right), empty = 0) whose root the issuer publishes with
 * the list of revoked serials. A holder proves non-membership of its serial in the
 * attribute circuit (circomlib `SMTVerifier`, fnc = 1) without revealing the serial.
 *
 * Key = serial, value = 1. The tree has REV_SMT_LEVELS = REV_DEPTH + 1 levels so that every
 * set of serials below 2^REV_DEPTH fits (see constants.ts).
 *
 * A published list is signed by its issuer (EdDSA-Poseidon over
 * Poseidon3(ATTR_REVOCATION_DOMAIN, root, updatedAt)), as X.509 revocation lists are: a
 * verifier may fetch it from any mirror, cache or plain-HTTP host, and a list altered on the
 * way (a revoked serial dropped, so a revoked credential passes again) fails its signature.
 * Replaying an older signed list is what a verifier's monotonic `updatedAt` check refuses.
 *
 * Browser-safe: no Node imports.
 */
import * as iden3 from "@iden3/js-merkletree";
import { poseidon3 } from "poseidon-lite/poseidon3";
import type { Hex } from "viem";
import { z } from "zod";

import { derivePublicKey, signMessage } from "../eddsa-poseidon.cjs";
import { verifyEdDsaPoseidon, type BabyJubPoint, type EdDsaSignature } from "../eddsa.js";
import { ZkPayError } from "../errors.js";
import { isSubgroupPoint, pointFromJson, pointToJson, privateKeyBytes } from "./credential.js";
import { ATTR_REVOCATION_DOMAIN, REV_DEPTH, REV_SMT_LEVELS } from "./constants.js";

const MAX_SERIAL = 2n ** BigInt(REV_DEPTH);

// The part of @iden3/js-merkletree used here, typed by hand: the package's declaration
// files use extensionless relative imports, which TypeScript's NodeNext resolution does
// not follow, so its own types come out empty.
interface Iden3Hash {
  bigInt(): bigint;
}
interface Iden3Proof {
  existence: boolean;
  nodeAux: { key: Iden3Hash; value: Iden3Hash } | undefined;
  allSiblings(): Iden3Hash[];
}
interface Iden3Tree {
  add(k: bigint, v: bigint): Promise<void>;
  root(): Promise<Iden3Hash>;
  generateProof(k: bigint, rootKey?: Iden3Hash): Promise<{ proof: Iden3Proof; value: bigint }>;
}
const smt = iden3 as unknown as {
  Merkletree: new (db: unknown, writable: boolean, maxLevels: number) => Iden3Tree;
  InMemoryDB: new (prefix: Uint8Array) => unknown;
  str2Bytes(s: string): Uint8Array;
};

/** A serial as a bigint below 2^REV_DEPTH, else `invalid_argument`. */
function serialOf(serial: bigint | number): bigint {
  const s = typeof serial === "number" && Number.isInteger(serial) ? BigInt(serial) : serial;
  if (typeof s !== "bigint" || s < 0n || s >= MAX_SERIAL) {
    throw new ZkPayError("invalid_argument", `a serial must be an integer 0..2^${REV_DEPTH}-1`, {
      field: "serial",
    });
  }
  return s;
}

/** An SMT exclusion path of a serial, as the attribute circuit takes it. */
export interface NonMembershipProof {
  /** Exactly REV_SMT_LEVELS siblings, zero-padded. */
  siblings: bigint[];
  /** The leaf met on the serial's path (0 when the path ends in an empty slot). */
  oldKey: bigint;
  oldValue: bigint;
  /** 1 when the path ends in an empty slot, 0 when it ends in another serial's leaf. */
  isOld0: 0 | 1;
}

/**
 * An issuer's revocation tree.
 *
 * @example
 * const tree = await RevocationTree.create([3, 17]);
 * tree.root(); // published, bound into the issuer's trusted-set leaf
 * await tree.nonMembership(7); // the holder of serial 7 proves it is not revoked
 */
export class RevocationTree {
  readonly #tree: Iden3Tree;
  readonly #revoked = new Set<bigint>();
  #root = 0n;

  private constructor(tree: Iden3Tree) {
    this.#tree = tree;
  }

  /** A tree holding `revoked` (serials below 2^REV_DEPTH; duplicates are ignored). */
  static async create(revoked: Iterable<bigint | number> = []): Promise<RevocationTree> {
    const t = new RevocationTree(new smt.Merkletree(new smt.InMemoryDB(smt.str2Bytes("")), true, REV_SMT_LEVELS));
    for (const s of revoked) await t.add(s);
    return t;
  }

  /** The current root (0 when nothing is revoked). */
  root(): bigint {
    return this.#root;
  }

  /** Whether `serial` is revoked. */
  has(serial: bigint | number): boolean {
    return this.#revoked.has(serialOf(serial));
  }

  /** Revokes `serial` (no-op when already revoked). */
  async add(serial: bigint | number): Promise<void> {
    const s = serialOf(serial);
    if (this.#revoked.has(s)) return;
    await this.#tree.add(s, 1n);
    this.#revoked.add(s);
    this.#root = (await this.#tree.root()).bigInt();
  }

  /** The revoked serials, ascending. */
  revoked(): bigint[] {
    return [...this.#revoked].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * The exclusion path of `serial` against the current root. Throws `credential_revoked`
   * when it is revoked.
   */
  async nonMembership(serial: bigint | number): Promise<NonMembershipProof> {
    const s = serialOf(serial);
    if (this.#revoked.has(s)) {
      throw new ZkPayError("credential_revoked", `credential serial ${s} is revoked by its issuer`, {
        serial: s.toString(),
      });
    }
    const { proof } = await this.#tree.generateProof(s, await this.#tree.root());
    if (proof.existence) throw new ZkPayError("credential_revoked", `credential serial ${s} is revoked by its issuer`);
    const siblings = proof.allSiblings().map((h) => h.bigInt());
    while (siblings.length < REV_SMT_LEVELS) siblings.push(0n);
    const aux = proof.nodeAux;
    return aux === undefined
      ? { siblings, oldKey: 0n, oldValue: 0n, isOld0: 1 }
      : { siblings, oldKey: aux.key.bigInt(), oldValue: aux.value.bigInt(), isOld0: 0 };
  }
}

/** What an issuer publishes about its revocations, signed by it. */
export interface RevocationList {
  issuer: BabyJubPoint;
  /** The tree root of `revoked` (0 when empty). */
  root: bigint;
  revoked: bigint[];
  /** Unix milliseconds of the last change (0 before the first revocation). */
  updatedAt: number;
  /** The issuer's EdDSA-Poseidon signature over {@link revocationListMessage}(root, updatedAt). */
  signature: EdDsaSignature;
}

/**
 * The field element an issuer signs for its revocation list:
 * Poseidon3(ATTR_REVOCATION_DOMAIN, root, updatedAt). The root commits to every revoked
 * serial; `updatedAt` orders the lists, so a verifier can refuse an older one.
 */
export function revocationListMessage(root: bigint, updatedAt: number): bigint {
  return poseidon3([ATTR_REVOCATION_DOMAIN, root, BigInt(updatedAt)]);
}

/**
 * Builds and signs an issuer's revocation list: the tree root of `revoked` and the
 * issuer's signature over it and `updatedAt`. `AttributeIssuer.revocationList()` calls it;
 * an issuer that keeps its books elsewhere calls it directly.
 *
 * @example
 * const list = await signRevocationList(issuerSecret, { revoked: [3n, 9n], updatedAt: Date.now() });
 */
export async function signRevocationList(
  issuerPrivateKey: Uint8Array | Hex,
  o: { revoked: readonly (bigint | number)[]; updatedAt: number },
): Promise<RevocationList> {
  const sk = privateKeyBytes(issuerPrivateKey, "issuerPrivateKey");
  if (!Number.isSafeInteger(o.updatedAt) || o.updatedAt < 0) {
    throw new ZkPayError("invalid_argument", "updatedAt must be unix milliseconds (a non-negative integer)", {
      field: "updatedAt",
    });
  }
  const tree = await RevocationTree.create(o.revoked);
  const root = tree.root();
  const issuer = derivePublicKey(sk);
  const sig = signMessage(sk, revocationListMessage(root, o.updatedAt));
  return {
    issuer: [issuer[0], issuer[1]],
    root,
    revoked: tree.revoked(),
    updatedAt: o.updatedAt,
    signature: { R8: [sig.R8[0], sig.R8[1]], S: sig.S },
  };
}

/** True when the list's signature is its issuer's over its root and `updatedAt`. */
export function verifyRevocationListSignature(
  l: Pick<RevocationList, "issuer" | "root" | "updatedAt" | "signature">,
): boolean {
  try {
    return verifyEdDsaPoseidon(l.issuer, revocationListMessage(l.root, l.updatedAt), l.signature);
  } catch {
    return false;
  }
}

const Decimal = z.string().regex(/^\d{1,78}$/);

/** Most serials one published revocation list may hold. */
export const MAX_REVOKED = 100_000;

/** JSON form of a {@link RevocationList}: `{ issuer: {x, y}, root, revoked: [serials], updatedAt, signature: {R8: {x, y}, S} }`, decimal strings. */
export const RevocationListJsonSchema = z
  .object({
    issuer: z.object({ x: Decimal, y: Decimal }).strict(),
    root: Decimal,
    // A bound on what a client or server rebuilds per list (a tree insertion each); an
    // issuer with more revocations rotates its key.
    revoked: z.array(Decimal).max(MAX_REVOKED),
    updatedAt: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    signature: z.object({ R8: z.object({ x: Decimal, y: Decimal }).strict(), S: Decimal }).strict(),
  })
  .strict();

/** The JSON form of a revocation list. */
export type RevocationListJson = z.infer<typeof RevocationListJsonSchema>;

/**
 * A revocation list -> JSON.
 *
 * @example
 * res.json(revocationListToJson(await signRevocationList(issuerSecret, { revoked, updatedAt })));
 */
export function revocationListToJson(l: RevocationList): RevocationListJson {
  return {
    issuer: pointToJson(l.issuer),
    root: l.root.toString(),
    revoked: l.revoked.map((s) => s.toString()),
    updatedAt: l.updatedAt,
    signature: { R8: pointToJson(l.signature.R8), S: l.signature.S.toString() },
  };
}

/**
 * JSON -> a revocation list. Recomputes the root of `revoked` and throws
 * `invalid_argument` when the JSON is malformed (serials must be below 2^REV_DEPTH), the
 * published root is not the root of those serials (a list whose root cannot be reproduced
 * would let proofs and the list disagree), or the signature is not the named issuer's over
 * root and `updatedAt` (an altered or forged list). Whoever uses it still checks that the
 * issuer is the one it trusts. A holder then builds its path with
 * `RevocationTree.create(list.revoked)`.
 *
 * @example
 * const list = revocationListFromJson(await (await fetch(url)).json());
 */
export async function revocationListFromJson(j: unknown): Promise<RevocationList> {
  const parsed = RevocationListJsonSchema.safeParse(j);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue?.path.join(".");
    throw new ZkPayError("invalid_argument", `malformed revocation list: ${at ? `${at}: ` : ""}${issue?.message}`, {
      path: at,
    });
  }
  const w = parsed.data;
  const issuer = pointFromJson(w.issuer);
  if (!isSubgroupPoint(issuer)) {
    throw new ZkPayError("invalid_argument", "revocation list: issuer is not a BabyJubJub subgroup point", {
      field: "issuer",
    });
  }
  const root = BigInt(w.root);
  const signature: EdDsaSignature = { R8: pointFromJson(w.signature.R8), S: BigInt(w.signature.S) };
  // The signature first: it is cheap, and an unsigned list is not worth rebuilding a tree for.
  if (!verifyRevocationListSignature({ issuer, root, updatedAt: w.updatedAt, signature })) {
    throw new ZkPayError(
      "invalid_argument",
      "revocation list: the signature is not its issuer's over its root and updatedAt (an altered or forged list)",
      { field: "signature" },
    );
  }
  const revoked = [...new Set(w.revoked.map((s) => serialOf(BigInt(s))))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // The root recomputed with the same library the holder's path comes from.
  if ((await RevocationTree.create(revoked)).root() !== root) {
    throw new ZkPayError("invalid_argument", "revocation list: root is not the tree root of the revoked serials", {
      field: "root",
    });
  }
  return { issuer, root, revoked, updatedAt: w.updatedAt, signature };
}

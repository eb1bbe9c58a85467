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
 * Browser-safe: no Node imports.
 */
import * as iden3 from "@iden3/js-merkletree";
import { z } from "zod";

import type { BabyJubPoint } from "../eddsa.js";
import { ZkPayError } from "../errors.js";
import { isSubgroupPoint, pointFromJson, pointToJson } from "./credential.js";
import { REV_DEPTH, REV_SMT_LEVELS } from "./constants.js";

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

/** What an issuer publishes about its revocations. */
export interface RevocationList {
  issuer: BabyJubPoint;
  /** The tree root of `revoked` (0 when empty). */
  root: bigint;
  revoked: bigint[];
  /** Unix milliseconds of the last change. */
  updatedAt: number;
}

const Decimal = z.string().regex(/^\d{1,78}$/);

/** Most serials one published revocation list may hold. */
export const MAX_REVOKED = 100_000;

/** JSON form of a {@link RevocationList}: `{ issuer: {x, y}, root, revoked: [serials], updatedAt }`, decimal strings. */
export const RevocationListJsonSchema = z
  .object({
    issuer: z.object({ x: Decimal, y: Decimal }).strict(),
    root: Decimal,
    // A bound on what a client or server rebuilds per list (a tree insertion each); an
    // issuer with more revocations rotates its key.
    revoked: z.array(Decimal).max(MAX_REVOKED),
    updatedAt: z.number().int().nonnegative(),
  })
  .strict();

/** The JSON form of a revocation list. */
export type RevocationListJson = z.infer<typeof RevocationListJsonSchema>;

/**
 * A revocation list -> JSON.
 *
 * @example
 * res.json(revocationListToJson({ issuer, root: tree.root(), revoked: tree.revoked(), updatedAt: Date.now() }));
 */
export function revocationListToJson(l: RevocationList): RevocationListJson {
  return {
    issuer: pointToJson(l.issuer),
    root: l.root.toString(),
    revoked: l.revoked.map((s) => s.toString()),
    updatedAt: l.updatedAt,
  };
}

/**
 * JSON -> a revocation list. Recomputes the root of `revoked` and throws
 * `invalid_argument` when the JSON is malformed (serials must be below 2^REV_DEPTH) or the
 * published root is not the root of those serials (a list whose root cannot be reproduced
 * would let proofs and the list disagree). A holder then builds its path with
 * `RevocationTree.create(list.revoked)`.
 *
 * @example
 * const list = revocationListFromJson(await (await fetch(url)).json());
 */
export async function revocationListFromJson(j: unknown): Promise<RevocationList> {
  const parsed = RevocationListJsonSchema.safeParse(j);
  if (!parsed.success) {
    throw new ZkPayError("invalid_argument", `malformed revocation list: ${parsed.error.issues[0]?.message}`, {
      path: parsed.error.issues[0]?.path.join("."),
    });
  }
  const w = parsed.data;
  const issuer = pointFromJson(w.issuer);
  if (!isSubgroupPoint(issuer)) {
    throw new ZkPayError("invalid_argument", "revocation list: issuer is not a BabyJubJub subgroup point", {
      field: "issuer",
    });
  }
  const revoked = [...new Set(w.revoked.map((s) => serialOf(BigInt(s))))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const root = BigInt(w.root);
  // The root recomputed with the same library the holder's path comes from.
  if ((await RevocationTree.create(revoked)).root() !== root) {
    throw new ZkPayError("invalid_argument", "revocation list: root is not the tree root of the revoked serials", {
      field: "root",
    });
  }
  return { issuer, root, revoked, updatedAt: w.updatedAt };
}

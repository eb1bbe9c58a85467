/**
 * The trusted-issuer set of a paid API: each issuer's leaf binds its key and its current
 * revocation root, Poseidon4(ATTR_ISSUER_DOMAIN, Ax, Ay, revocationRoot); the leaves in list
 * order form a LeanIMT (Poseidon2 nodes, @zk-kit/lean-imt, as the pool's tree) whose root
 * `issuersRoot` is a public input of the attribute circuit. The circuit proves membership
 * with `LeanMerklePath(ISSUER_DEPTH)`, so the verifier does not learn which issuer signed.
 *
 * Browser-safe: no Node imports.
 */
import { LeanIMT } from "@zk-kit/lean-imt";
import { poseidon2 } from "poseidon-lite/poseidon2";
import { poseidon4 } from "poseidon-lite/poseidon4";

import type { BabyJubPoint } from "../eddsa.js";
import { ZkPayError } from "../errors.js";
import { SNARK_SCALAR_FIELD } from "../field.js";
import { ATTR_ISSUER_DOMAIN, ISSUER_DEPTH, MAX_TRUSTED_ISSUERS } from "./constants.js";
import { isSubgroupPoint } from "./credential.js";

/** An issuer an API trusts, with its current revocation root (0 when it revoked nothing). */
export interface TrustedIssuer {
  publicKey: BabyJubPoint;
  revocationRoot: bigint;
}

/**
 * An issuer's leaf: Poseidon4(ATTR_ISSUER_DOMAIN, Ax, Ay, revocationRoot).
 *
 * @example
 * const leaf = issuerLeaf({ publicKey, revocationRoot: tree.root() });
 */
export function issuerLeaf(i: TrustedIssuer): bigint {
  if (!isSubgroupPoint(i?.publicKey)) {
    throw new ZkPayError("invalid_argument", "a trusted issuer's key is not a BabyJubJub subgroup point", {
      field: "publicKey",
    });
  }
  if (typeof i.revocationRoot !== "bigint" || i.revocationRoot < 0n || i.revocationRoot >= SNARK_SCALAR_FIELD) {
    throw new ZkPayError("invalid_argument", "a trusted issuer's revocationRoot must be a field element", {
      field: "revocationRoot",
    });
  }
  return poseidon4([ATTR_ISSUER_DOMAIN, i.publicKey[0], i.publicKey[1], i.revocationRoot]);
}

/** The LeanIMT of the list's leaves, and its levels (level 0 = the leaves) for paths. */
function treeOf(list: readonly TrustedIssuer[]): { root: bigint; levels: bigint[][] } {
  if (!Array.isArray(list) || list.length < 1 || list.length > MAX_TRUSTED_ISSUERS) {
    throw new ZkPayError("invalid_argument", `a trusted-issuer list holds 1..${MAX_TRUSTED_ISSUERS} issuers`, {
      field: "issuers",
    });
  }
  const leaves = list.map(issuerLeaf);
  if (new Set(leaves).size !== leaves.length) {
    throw new ZkPayError("invalid_argument", "a trusted-issuer list names an issuer twice", { field: "issuers" });
  }
  const tree = new LeanIMT<bigint>((a, b) => poseidon2([a, b]), leaves);
  // The levels, computed the LeanIMT way (a last odd node is carried up unchanged); the
  // library keeps its nodes private, so the root check below ties the two together.
  const levels: bigint[][] = [leaves];
  while (levels[levels.length - 1]!.length > 1) {
    const cur = levels[levels.length - 1]!;
    const next: bigint[] = [];
    for (let k = 0; k < cur.length; k += 2) next.push(k + 1 < cur.length ? poseidon2([cur[k]!, cur[k + 1]!]) : cur[k]!);
    levels.push(next);
  }
  if (levels[levels.length - 1]![0] !== tree.root) throw new Error("issuer tree levels disagree with @zk-kit/lean-imt");
  return { root: tree.root, levels };
}

/**
 * The public root of a trusted-issuer list (1..MAX_TRUSTED_ISSUERS issuers, in order).
 * Throws `invalid_argument` for an empty or too long list, a bad key or a duplicate.
 *
 * @example
 * const issuersRoot = issuersRootOf([{ publicKey: a, revocationRoot: 0n }]);
 */
export function issuersRootOf(list: readonly TrustedIssuer[]): bigint {
  return treeOf(list).root;
}

/**
 * The uncompressed membership path of issuer number `index` (as circuits/
 * lean_merkle_path.circom takes it): ISSUER_DEPTH levels of hasSibling (0/1) and siblings.
 *
 * @example
 * const path = issuerMembership(list, 1); // path.index === 1
 */
export function issuerMembership(
  list: readonly TrustedIssuer[],
  index: number,
): { index: number; hasSibling: number[]; siblings: bigint[] } {
  const tree = treeOf(list);
  if (!Number.isInteger(index) || index < 0 || index >= list.length) {
    throw new ZkPayError("invalid_argument", `issuer index ${index} is outside the list (0..${list.length - 1})`, {
      field: "index",
    });
  }
  const hasSibling: number[] = [];
  const siblings: bigint[] = [];
  // Walk the LeanIMT's levels: at level l our node is number i of n; it has a sibling
  // unless it is the last node of an odd level (then it is carried up unchanged).
  let i = index;
  let n = list.length;
  for (let l = 0; l < ISSUER_DEPTH; l++) {
    const sib = i ^ 1;
    if (sib < n) {
      hasSibling.push(1);
      siblings.push(tree.levels[l]![sib]!);
    } else {
      hasSibling.push(0);
      siblings.push(0n);
    }
    i >>= 1;
    n = Math.ceil(n / 2);
  }
  return { index, hasSibling, siblings };
}

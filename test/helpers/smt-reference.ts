/**
 * A reference implementation of the revocation tree's root (circomlib's sparse Merkle
 * tree, as `RevocationTree` builds it with @iden3/js-merkletree), written out for the tests
 * to check the library against: empty subtree 0, a subtree with one serial k its leaf
 * Poseidon3(k, 1, 1) at the level where it is alone, otherwise Poseidon2(left, right),
 * splitting on key bit l (LSB first) at level l. Test-only: the SDK uses the library.
 */
import { poseidon2 } from "poseidon-lite/poseidon2";
import { poseidon3 } from "poseidon-lite/poseidon3";

import { ZkPayError } from "../../sdk/core/errors.js";
import { REV_DEPTH, REV_SMT_LEVELS } from "../../sdk/core/identity/constants.js";

/** The root of the revocation tree holding `serials`. @example revocationRootOf([3, 17]) */
export function revocationRootOf(serials: Iterable<bigint | number>): bigint {
  const keys = [
    ...new Set(
      [...serials].map((s) => {
        const k = BigInt(s);
        if (k < 0n || k >= 1n << BigInt(REV_DEPTH))
          throw new ZkPayError("invalid_argument", `serial ${s} out of range`);
        return k;
      }),
    ),
  ];
  const node = (ks: bigint[], level: number): bigint => {
    if (ks.length === 0) return 0n;
    if (ks.length === 1) return poseidon3([ks[0]!, 1n, 1n]);
    if (level >= REV_SMT_LEVELS - 1) throw new Error("unreachable: serials below 2^REV_DEPTH always separate");
    const bit = 1n << BigInt(level);
    const left = node(
      ks.filter((k) => (k & bit) === 0n),
      level + 1,
    );
    const right = node(
      ks.filter((k) => (k & bit) !== 0n),
      level + 1,
    );
    return poseidon2([left, right]);
  };
  return node(keys, 0);
}

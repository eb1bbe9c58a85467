// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Groth16Batch
/// @notice Verifies k Groth16 proofs of one circuit (one verifying key) with a single
/// pairing check of k + 3 pairs, instead of k checks of 4 pairs each. Circuit-agnostic:
/// a generated verifier contract (verifiers/) supplies the key; every circuit of 402zk
/// that needs batched verification reuses this library.
///
/// ## The check
/// Groth16 accepts proof (A, B, C) for public inputs x_1..x_n when
///     e(A, B) = e(alpha, beta) * e(L(x), gamma) * e(C, delta),   L(x) = IC_0 + sum_j x_j IC_j.
/// For proofs i = 1..k and coefficients r_i this library checks the product
///     prod_i e(r_i A_i, B_i) * e(-(sum_i r_i) alpha, beta)
///         * e(-(sum_i r_i L(x_i)), gamma) * e(-(sum_i r_i C_i), delta) = 1
/// where sum_i r_i L(x_i) = (sum_i r_i) IC_0 + sum_j (sum_i r_i x_ij) IC_j is one
/// multi-scalar multiplication over the combined inputs (n + 1 ecMul, not k(n + 1)).
///
/// ## Soundness
/// Write D_i = e(A_i, B_i) / (e(alpha, beta) e(L(x_i), gamma) e(C_i, delta)), an element
/// of the pairing target group G_T, which has prime order r. Proof i is valid exactly when
/// D_i = 1, and by bilinearity the product checked above is prod_i D_i^{r_i}. If every
/// proof is valid it is 1 (completeness). Suppose proof j is not valid (D_j != 1): for
/// any fixed values of the other coefficients, D_j^{r_j} takes each value of the cyclic
/// group <D_j> (order r) for exactly one r_j mod r, so at most one r_j makes the product
/// 1. The coefficients are Fiat-Shamir challenges: r_i = keccak256(seed, i) truncated to
/// 128 bits, with seed = keccak256 of every proof point and every public input of the
/// batch. A submitter who changes anything in the batch changes every r_i, so (keccak as
/// a random oracle) each attempt passes with probability at most 2^-128; forging a batch
/// costs ~2^128 hash evaluations. r_1 = 1 is safe (it saves two ecMul): if only proof 1
/// is invalid the product is D_1 != 1 deterministically, and if another proof j is
/// invalid the argument above applies to r_j alone. Coefficients are never 0 (a zero
/// would drop its proof from the check).
///
/// Points: the ecAdd/ecMul precompiles (EIP-196) fail on G1 points that are not on the
/// curve or have a coordinate >= q; the pairing precompile (EIP-197) also fails on G2
/// points off the twist or outside its order-r subgroup. Any failure makes `verify`
/// return false. Public inputs must be canonical (< r): an input x + r would be a second
/// encoding of x, so they are refused, as snarkjs' verifier does.
library Groth16Batch {
    /// @notice Base field modulus q of BN254.
    uint256 internal constant Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// @notice Scalar field order r of BN254.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @dev Domain tag of the Fiat-Shamir transcript.
    bytes32 internal constant TRANSCRIPT_TAG = keccak256("402zk.groth16.batch.v1");

    /// @notice A verifying key. G2 points in EIP-197 order: (x_imag, x_real, y_imag, y_real).
    struct VerifyingKey {
        uint256[2] alpha;
        uint256[4] beta;
        uint256[4] gamma;
        uint256[4] delta;
        uint256[2][] ic;
    }

    /// @notice Verifies `proofs` against the flattened public inputs.
    /// @param proofs Each [A.x, A.y, B.x_imag, B.x_real, B.y_imag, B.y_real, C.x, C.y]
    /// (the snarkjs Solidity layout of pA, pB, pC).
    /// @param inputs Public inputs, proof after proof: inputs[i * n + j] is input j of
    /// proof i, with n = vk.ic.length - 1.
    /// @return True when every proof is valid (see the soundness note above).
    function verify(
        VerifyingKey memory vk,
        uint256[8][] memory proofs,
        uint256[] memory inputs
    ) internal view returns (bool) {
        uint256 k = proofs.length;
        uint256 n = vk.ic.length - 1;
        if (k == 0 || inputs.length != k * n) return false;
        for (uint256 i = 0; i < inputs.length; ++i) {
            if (inputs[i] >= R) return false;
        }

        uint256 seed = uint256(keccak256(abi.encode(TRANSCRIPT_TAG, proofs, inputs)));
        uint256[] memory pairs = new uint256[]((k + 3) * 6);
        Sums memory sums;
        sums.weighted = new uint256[](n);
        for (uint256 i = 0; i < k; ++i) {
            if (!_addProof(pairs, sums, proofs[i], inputs, i, n, seed)) return false;
        }

        // sum_i r_i L(x_i) = (sum r_i) IC_0 + sum_j weighted_j IC_{j+1}
        bool ok;
        uint256[2] memory lSum;
        (ok, lSum) = _mul(vk.ic[0], sums.r);
        if (!ok) return false;
        for (uint256 j = 0; j < n; ++j) {
            uint256[2] memory term;
            (ok, term) = _mul(vk.ic[j + 1], sums.weighted[j]);
            if (!ok) return false;
            (ok, lSum) = _add(lSum, term);
            if (!ok) return false;
        }
        uint256[2] memory aSum;
        (ok, aSum) = _mul(vk.alpha, sums.r);
        if (!ok) return false;

        _setPair(pairs, k, _neg(aSum), vk.beta);
        _setPair(pairs, k + 1, _neg(lSum), vk.gamma);
        _setPair(pairs, k + 2, _neg(sums.c), vk.delta);
        return _pairing(pairs);
    }

    /// @dev Running sums over the proofs of a batch.
    struct Sums {
        uint256 r; // sum_i r_i mod r
        uint256[2] c; // sum_i r_i C_i ((0, 0), the identity, to start)
        uint256[] weighted; // sum_i r_i x_ij mod r, per input j
    }

    /// @dev Adds proof i with its Fiat-Shamir coefficient: writes the pair (r_i A_i, B_i)
    /// and updates the sums. False when a point is invalid.
    function _addProof(
        uint256[] memory pairs,
        Sums memory sums,
        uint256[8] memory p,
        uint256[] memory inputs,
        uint256 i,
        uint256 n,
        uint256 seed
    ) private view returns (bool ok) {
        uint256 r = i == 0 ? 1 : uint128(uint256(keccak256(abi.encode(seed, i))));
        if (r == 0) r = 1;
        sums.r = addmod(sums.r, r, R);

        uint256[2] memory a = [p[0], p[1]];
        uint256[2] memory c = [p[6], p[7]];
        if (r != 1) {
            (ok, a) = _mul(a, r);
            if (!ok) return false;
            (ok, c) = _mul(c, r);
            if (!ok) return false;
        }
        // ecAdd also rejects an invalid C when r = 1; the pairing rejects an invalid A or B.
        (ok, sums.c) = _add(sums.c, c);
        if (!ok) return false;

        uint256 o = i * 6;
        pairs[o] = a[0];
        pairs[o + 1] = a[1];
        pairs[o + 2] = p[2];
        pairs[o + 3] = p[3];
        pairs[o + 4] = p[4];
        pairs[o + 5] = p[5];

        for (uint256 j = 0; j < n; ++j) {
            sums.weighted[j] = addmod(sums.weighted[j], mulmod(r, inputs[i * n + j], R), R);
        }
        return true;
    }

    function _setPair(uint256[] memory pairs, uint256 at, uint256[2] memory g1, uint256[4] memory g2) private pure {
        uint256 o = at * 6;
        pairs[o] = g1[0];
        pairs[o + 1] = g1[1];
        pairs[o + 2] = g2[0];
        pairs[o + 3] = g2[1];
        pairs[o + 4] = g2[2];
        pairs[o + 5] = g2[3];
    }

    /// @dev -P = (x, q - y); the identity (0, 0) is its own negation.
    function _neg(uint256[2] memory p) private pure returns (uint256[2] memory) {
        if (p[0] == 0 && p[1] == 0) return p;
        return [p[0], Q - (p[1] % Q)];
    }

    /// @dev ecAdd precompile (0x06, 150 gas).
    function _add(uint256[2] memory p, uint256[2] memory q) private view returns (bool ok, uint256[2] memory out) {
        uint256[4] memory input = [p[0], p[1], q[0], q[1]];
        assembly ("memory-safe") {
            // Exactly the precompile's price: a failing precompile consumes all the gas it
            // is given, so forwarding gas() would burn the caller's transaction on a bad point.
            ok := staticcall(150, 0x06, input, 0x80, out, 0x40)
        }
    }

    /// @dev ecMul precompile (0x07, 6,000 gas).
    function _mul(uint256[2] memory p, uint256 s) private view returns (bool ok, uint256[2] memory out) {
        uint256[3] memory input = [p[0], p[1], s];
        assembly ("memory-safe") {
            ok := staticcall(6000, 0x07, input, 0x60, out, 0x40)
        }
    }

    /// @dev Pairing precompile (0x08, 45,000 + 34,000 per pair): true when the product
    /// of the pairings is 1 and every point is valid.
    function _pairing(uint256[] memory pairs) private view returns (bool) {
        uint256[1] memory result;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x08, add(pairs, 0x20), mul(mload(pairs), 0x20), result, 0x20)
        }
        return ok && result[0] == 1;
    }
}

import { encodeAbiParameters, keccak256, type Address, type Hex } from "viem";

import { SNARK_SCALAR_FIELD } from "./field.js";

/** The terms of a payment, as the Facilitator contract's `PaymentTerms` struct. */
export interface PaymentTerms {
  payTo: Address;
  amount: bigint;
  relayer: Address;
  fee: bigint;
  conditionHash: Hex;
  expiry: bigint;
}

/**
 * The `context` public input a payment proof must commit to: keccak256 of
 * abi.encode(chainId, facilitator, terms, keccak256(memo), keccak256(payeeMemo)), reduced
 * mod p. Exactly what `Facilitator.paymentContext(terms, memo, payeeMemo)` computes on
 * chain; any change to any term (payee, amount, relayer, fee, condition, expiry), to
 * either memo (the change note's, or the payee note's ciphertext: nobody can swap it),
 * to the chain or to the contract gives another context and invalidates the proof.
 *
 * A shielded payment has `terms.payTo` = the zero address, `terms.amount` = 0 and a
 * 187-byte `payeeMemo`; a transparent one an empty `payeeMemo` (the default).
 *
 * @example
 * const ctx = paymentContext({ chainId: 31337, facilitator, terms, memo: "0x" });
 * const shielded = paymentContext({ chainId: 31337, facilitator, terms, memo, payeeMemo });
 */
export function paymentContext(args: {
  chainId: number | bigint;
  facilitator: Address;
  terms: PaymentTerms;
  memo: Hex;
  /** The payee note's memo (a shielded payment's 187 bytes); "0x" (the default) for a transparent payment. */
  payeeMemo?: Hex;
}): bigint {
  const encoded = encodeAbiParameters(
    [
      { type: "uint256" },
      { type: "address" },
      {
        type: "tuple",
        components: [
          { name: "payTo", type: "address" },
          { name: "amount", type: "uint256" },
          { name: "relayer", type: "address" },
          { name: "fee", type: "uint256" },
          { name: "conditionHash", type: "bytes32" },
          { name: "expiry", type: "uint64" },
        ],
      },
      { type: "bytes32" },
      { type: "bytes32" },
    ],
    [BigInt(args.chainId), args.facilitator, args.terms, keccak256(args.memo), keccak256(args.payeeMemo ?? "0x")],
  );
  return BigInt(keccak256(encoded)) % SNARK_SCALAR_FIELD;
}

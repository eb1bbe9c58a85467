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
 * abi.encode(chainId, facilitator, terms, keccak256(memo)), reduced mod p. Exactly what
 * `Facilitator.paymentContext` computes on chain; any change to any term (payee,
 * relayer, fee, condition, expiry, memo, chain, contract) gives another context and
 * invalidates the proof.
 *
 * @example
 * const ctx = paymentContext({ chainId: 31337, facilitator, terms, memo: "0x" });
 */
export function paymentContext(args: {
  chainId: number | bigint;
  facilitator: Address;
  terms: PaymentTerms;
  memo: Hex;
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
    ],
    [BigInt(args.chainId), args.facilitator, args.terms, keccak256(args.memo)],
  );
  return BigInt(keccak256(encoded)) % SNARK_SCALAR_FIELD;
}

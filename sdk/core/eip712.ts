/**
 * EIP-712 types of the one-transaction deposit paths: EIP-2612 `Permit` and EIP-3009
 * `ReceiveWithAuthorization` (as in USDC), in the shape viem and ethers sign.
 *
 * @example
 * await walletClient.signTypedData({ domain, types: receiveWithAuthorizationTypes, primaryType: "ReceiveWithAuthorization", message });
 */
export const receiveWithAuthorizationTypes = {
  ReceiveWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
} as const;

/** EIP-2612 `Permit`. @example signTypedData({ domain, types: permitTypes, primaryType: "Permit", message }) */
export const permitTypes = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

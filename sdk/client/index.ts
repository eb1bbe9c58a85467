/**
 * 402zk for payers: a private wallet and the zk-exact x402 client scheme (browser-safe).
 *
 * Layout: `wallet.ts` is `PrivateWallet`, which binds the actions in `actions/` (one per
 * file: sync, schedule, note selection, each deposit method, prepare / submit a payment,
 * withdraw, balances) over the small state holder `wallet/core.ts`; `sync.ts` and
 * `sync/` scan the chain; `store.ts` persists; `types.ts` holds the wallet's types.
 * Receiving (notes paid to this wallet by others, and the auditor's listing of them with
 * a viewing key) is `actions/receive.ts` beside the payer's actions.
 */
export * from "./fetch.js";
export * from "./relay.js";
export * from "./scheme.js";
export * from "./store.js";
export * from "./wallet.js";
export * from "./proof-before-pay.js";
export { facilitatorEscrowAbi, statementOf, type EscrowOutcome } from "./actions/escrow.js";
export { fetchIncoming, scanIncoming, type FetchIncomingOptions } from "./actions/receive.js";
export { ZkPayError, isZkPayError, ZkReason } from "../core/errors.js";
export { chooseAttributeCredential, type ChosenCredential, type ZkIdentityOptions } from "./actions/attribute.js";

import type {
  PaymentPayloadContext,
  PaymentPayloadResult,
  PaymentRequirements,
  SchemeClientHooks,
  SchemeNetworkClient,
} from "@x402/core/types";
import { getAddress, isAddressEqual, zeroAddress, type Address, type Hex } from "viem";

import { chainIdOf } from "../core/deployment.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import type { ProofProgress } from "../core/prover.js";
import {
  ZK_SCHEME,
  ZK_SHIELDED_SCHEME,
  ZkPaymentPayloadSchema,
  ZkRequirementExtraSchema,
  conditionHashFor,
  serverPayloadToWire,
  termsToWire,
  type SettlementMode,
  type ZkPaymentPayload,
  type ZkSchemeName,
} from "../core/wire.js";
import {
  ZK_ATTRIBUTE_EXTENSION,
  checkAttributeRequirement,
  parseAttributeRequirement,
} from "../core/identity/extension.js";
import type { ZkIdentityOptions } from "./actions/attribute.js";
import { checkPaymentCost } from "./cost.js";
import type { RelayClient } from "./relay.js";
import type { PaymentParams, PreparedPayment } from "./types.js";
import type { PrivateWallet } from "./wallet.js";

// The payer's cost limits moved to cost.ts (the wallet's withdraw uses them too, and the
// wallet must not import this file, which imports the wallet).
export { checkPaymentCost, defaultMaxFee, formatTokens, type PaymentCostLimits, type TokenUnits } from "./cost.js";

/** Options of {@link ZkExactClientScheme}. */
export interface ZkClientOptions {
  wallet: PrivateWallet;
  /**
   * "server": send the proof, the server's facilitator submits it (default).
   * "client": submit `pay` yourself (needs the wallet's walletClient) and send the receipt.
   */
  settlement?: SettlementMode;
  /**
   * Client-settled payments go through this relayer (the 402zk facilitator service's
   * `/relay`) instead of the wallet's own account: the relayer's fee is added to the
   * proof, and the payer's address never appears on chain.
   */
  relay?: RelayClient;
  /**
   * Refuse payments that take more than this many base units from the note: amount +
   * fee. `x402Client`'s spend cap (`maxAmountPerPayment`, e.g. from
   * `setSpendControls({ allowedAssets: [{ ..., maxAmountPerPayment }] })`) is enforced the
   * same way, fee included; with both, the lower one holds. See {@link checkPaymentCost}.
   */
  maxAmount?: bigint;
  /**
   * The largest relayer fee accepted, base units. Default {@link defaultMaxFee}: at most
   * the payment's amount and at most 0.1 token. A fee above it is refused with
   * `fee_too_high` before proving.
   */
  maxFee?: bigint;
  /** Proving progress (witness, proving stages), e.g. for a progress bar. */
  onProgress?: (p: ProofProgress) => void;
  /** Called when a payment was prepared, with its timings. */
  onPrepared?: (p: PreparedPayment) => void;
  /**
   * If the server does not offer the requested settlement mode, use one it offers
   * instead of failing. Off by default: falling back from "server" to "client" would
   * submit from the payer's own account and reveal it on chain.
   */
  allowSettlementFallback?: boolean;
  /**
   * Client-settled: wait until the payment has the server's `minConfirmations` before
   * sending the receipt (default true), at most this long (default 120 s).
   */
  confirmationTimeoutMs?: number;
  /**
   * Pays requirements that sell a session credential (`extra.credential`): gives the
   * holder commitment the credential is to be issued to, recording the purchase first so
   * that a crash after paying loses nothing. `SessionClient` (402zk/session) sets it;
   * without it such requirements are refused.
   */
  credentials?: {
    /** The holder commitment the purchase of `req` binds (the payment's condition covers it). */
    holderCommitmentFor(req: PaymentRequirements): Promise<bigint>;
    /**
     * Called with the purchase's receipt id once its proof exists, before it is sent or
     * submitted; a zk-shielded purchase also gives its payee note (memo and commitment),
     * which a recovery must show the service.
     */
    onPaymentPrepared?(receiptId: Hex, shielded?: { payeeMemo: Hex; payeeCommitment: bigint }): Promise<void>;
  };
  /**
   * Verify & Pay: the identity credentials and the attribute circuit, to pay routes whose
   * 402 names an attribute rule (the `zk-attribute` extension). A credential that meets
   * the rule is chosen before anything is proven or paid; the attribute proof is bound to
   * the payment and sent as the payload's `zk-attribute` extension. Without it such
   * routes are refused with `attribute_proof_required`.
   */
  identity?: ZkIdentityOptions;
}

/**
 * The client side of zk-exact for `@x402/core`'s `x402Client`: pays a 402 with a
 * private note.
 *
 * @example
 * const client = new x402Client().register("eip155:*", new ZkExactClientScheme({ wallet }));
 * client.setSpendControls(false); // or allowedAssets with the pool's token
 * const paidFetch = wrapFetchWithPayment(fetch, client);
 * const res = await paidFetch("http://127.0.0.1:4021/weather");
 */
export class ZkExactClientScheme implements SchemeNetworkClient {
  readonly scheme: ZkSchemeName = ZK_SCHEME;
  readonly schemeHooks: SchemeClientHooks;
  readonly #o: ZkClientOptions;
  /** Payments sent but not yet answered, by condition hash. */
  readonly #inFlight = new Map<string, PreparedPayment>();
  /** Condition hashes whose next proof must sync first (the last one had a stale root). */
  readonly #resync = new Set<string>();

  constructor(o: ZkClientOptions) {
    this.#o = o;
    this.schemeHooks = {
      // x402Client merges the 402's declaration into the payload's extensions, its fields
      // winning: the issuer list and the JSON schema would double the header. The
      // attribute extension is cut back to what was proved (issuersRoot stands for the list).
      onAfterPaymentCreation: async (ctx) => {
        const ext = ctx.paymentPayload.extensions?.[ZK_ATTRIBUTE_EXTENSION] as
          { info?: { proof?: unknown; issuers?: unknown; maxPerEpoch?: unknown } } | undefined;
        if (ctx.paymentPayload.accepted.scheme !== this.scheme || ext?.info?.proof === undefined) return;
        const { issuers: _issuers, maxPerEpoch: _max, ...proved } = ext.info;
        ctx.paymentPayload.extensions![ZK_ATTRIBUTE_EXTENSION] = { info: proved };
      },
      // A refused server-settled payment never reached the chain: free its note now
      // instead of at expiry. A settled one's change counts in the balance at once.
      onPaymentResponse: async (ctx) => {
        if (ctx.paymentPayload.accepted.scheme !== this.scheme) return;
        const parsed = ZkPaymentPayloadSchema.safeParse(ctx.paymentPayload.payload);
        if (!parsed.success) return;
        const key = parsed.data.terms.conditionHash.toLowerCase();
        const prepared = this.#inFlight.get(key);
        this.#inFlight.delete(key);
        // Settled: the change is part of the balance now (pending until a sync finds the note).
        if (prepared && ctx.settleResponse?.success === true) await this.#o.wallet.recordSettlement(prepared);
        if (prepared && parsed.data.settlement === "server" && ctx.settleResponse?.success !== true) {
          await this.#o.wallet.releasePayment(prepared);
          // The tree moved on while the proof was in flight (a busy pool, or a small root
          // history): prove again against a fresh root, once. The server released the
          // challenge when it refused the root, so the same 402 can be paid again.
          // The wallet proves against its local tree without syncing first (see
          // PrivateWallet.preparePayment), so ask for a sync before the next proof.
          const reason = ctx.settleResponse?.errorReason ?? ctx.paymentRequired?.error;
          if (reason === "unknown_root" || reason === "stale_tree") {
            this.#resync.add(key);
            return { recovered: true };
          }
        }
      },
    };
  }

  /** x402 client hook: proves a payment for `requirements` from one private note (and submits it itself when client-settled). */
  async createPaymentPayload(
    x402Version: number,
    req: PaymentRequirements,
    context?: PaymentPayloadContext,
  ): Promise<PaymentPayloadResult> {
    const wallet = this.#o.wallet;
    const chainId = chainIdOf(req.network);
    if (chainId !== wallet.pool.chainId) {
      throw new ZkPayError(
        "chain_mismatch",
        `requirement is for ${req.network}, the wallet's pool is on eip155:${wallet.pool.chainId}`,
      );
    }
    const extra = ZkRequirementExtraSchema.safeParse(req.extra);
    if (!extra.success)
      throw new ZkPayError("invalid_payload", `bad ${this.scheme} requirement: ${extra.error.issues[0]?.message}`);
    const x = extra.data;
    if (!isAddressEqual(x.facilitator as Address, wallet.pool.facilitator)) {
      throw new ZkPayError(
        "chain_mismatch",
        `requirement is for pool ${x.facilitator}, the wallet uses ${wallet.pool.facilitator}`,
      );
    }
    if (!isAddressEqual(req.asset as Address, wallet.pool.token)) {
      throw new ZkPayError("chain_mismatch", `requirement asks for ${req.asset}, the pool holds ${wallet.pool.token}`);
    }
    const wanted = this.#o.settlement ?? "server";
    if (!x.settlement.includes(wanted) && !this.#o.allowSettlementFallback) {
      throw new ZkPayError("unsupported_scheme", `server offers ${x.settlement.join("/")} settlement, not ${wanted}`, {
        offered: x.settlement,
      });
    }
    const mode: SettlementMode = x.settlement.includes(wanted) ? wanted : x.settlement[0]!;
    const relay = mode === "client" ? await this.#o.relay?.terms(wallet.pool.chainId) : undefined;
    const fee = mode === "server" ? BigInt(x.fee) : (relay?.fee ?? 0n);
    const relayer = mode === "server" ? (getAddress(x.relayer) as Address) : (relay?.relayer ?? zeroAddress);
    const amount = BigInt(req.amount);
    // x402Client checks its spend cap against the amount alone; the fee leaves the same
    // note, so the cap is checked here against both, before anything is proven.
    checkPaymentCost(
      { amount, fee, relayer },
      { maxAmount: lowerOf(this.#o.maxAmount, atomic(context?.maxAmountPerPayment)), maxFee: this.#o.maxFee },
      await wallet.tokenUnits(),
    );
    let holderCommitment: bigint | undefined;
    if (x.credential !== undefined) {
      if (!this.#o.credentials) {
        throw new ZkPayError(
          "unsupported_scheme",
          "this requirement sells a session credential: pay it through a SessionClient (402zk/session)",
        );
      }
      holderCommitment = await this.#o.credentials.holderCommitmentFor(req);
    }
    const conditionHash = conditionHashFor(x.challenge, holderCommitment);
    const credential =
      holderCommitment === undefined ? {} : { credential: { commitment: holderCommitment.toString() } };
    const resync = this.#resync.delete(conditionHash.toLowerCase());
    const shielded = this.scheme === ZK_SHIELDED_SCHEME;
    if (shielded === /^0x/i.test(req.payTo)) {
      throw new ZkPayError(
        shielded ? "invalid_shielded_address" : "invalid_payload",
        shielded
          ? `a ${ZK_SHIELDED_SCHEME} requirement pays a shielded address (zk402...), not ${req.payTo}`
          : `a ${ZK_SCHEME} requirement pays a 20-byte address, not ${req.payTo}`,
      );
    }
    // Verify & Pay: a credential that meets the route's rule is chosen before anything is
    // proven or paid; its proof is made for the note preparePayment spends.
    let attribute: PaymentParams["attribute"];
    const attributeDeclaration = context?.extensions?.[ZK_ATTRIBUTE_EXTENSION];
    if (attributeDeclaration !== undefined) {
      const identity = this.#o.identity;
      if (!identity) {
        throw new ZkPayError(
          "attribute_proof_required",
          "this route requires an identity attribute proof (zk-attribute): give the client `identity` (credentials and the attribute circuit)",
        );
      }
      const info = parseAttributeRequirement(attributeDeclaration);
      // Today's date and epoch only (the fetch wrappers also check the service's origin).
      checkAttributeRequirement(info);
      // Loaded on first use: the revocation tree and the attribute prover stay out of a
      // browser bundle that never meets an attribute route.
      const { chooseAttributeCredential } = await import("./actions/attribute.js");
      const holder = identity.holder ?? wallet.attributeHolderKey();
      const list = "list" in identity.credentials ? await identity.credentials.list() : identity.credentials;
      const chosen = await chooseAttributeCredential(info, list, holder, identity);
      attribute = { info, chosen, holder, artifacts: identity.artifacts, onProgress: identity.onProgress };
    }
    const params: PaymentParams = {
      // Shielded: the wallet parses the address, creates the payee note (value = the
      // price, owned by the address's owner key) and encrypts its opening to it.
      payTo: shielded ? (req.payTo as `zk402${string}`) : (getAddress(req.payTo) as Address),
      amount,
      fee,
      relayer,
      conditionHash,
      expiry: BigInt(x.challenge.exp),
      onProgress: this.#o.onProgress,
      ...(attribute && { attribute }),
    };
    const prepared = await wallet.preparePayment({ ...params, sync: resync });
    this.#o.onPrepared?.(prepared);
    // A purchase's receipt id is recorded before the payment can reach the chain.
    if (holderCommitment !== undefined) {
      await this.#o.credentials?.onPaymentPrepared?.(
        prepared.receiptId,
        shielded ? { payeeMemo: prepared.payeeMemo, payeeCommitment: prepared.proof.payeeCommitment } : undefined,
      );
    }
    let payload: ZkPaymentPayload;
    let proved: PreparedPayment = prepared;
    if (mode === "server") {
      // commitChange: our only note after this one, its change committed in the same transaction.
      payload = { ...serverPayloadToWire(prepared), ...credential };
      this.#inFlight.set(conditionHash.toLowerCase(), prepared);
    } else {
      const transaction = await this.#submitFresh(prepared, () => wallet.preparePayment({ ...params, sync: true }));
      proved = transaction.prepared;
      // The server will refuse the receipt until it has enough confirmations: wait for them
      // rather than spend a challenge on a premature receipt.
      if (x.minConfirmations > 1 && (this.#o.confirmationTimeoutMs ?? 120_000) > 0) {
        await wallet.publicClient
          .waitForTransactionReceipt({
            hash: transaction.hash,
            confirmations: x.minConfirmations,
            timeout: this.#o.confirmationTimeoutMs ?? 120_000,
          })
          .catch((err: unknown) => {
            // Mined already (submitPayment saw its receipt): never report it as not made.
            throw new ZkPayError(
              "payment_unconfirmed",
              `payment ${transaction.receiptId} was mined in ${transaction.hash} but has not reached the ` +
                `${x.minConfirmations} confirmations the server wants (${(err as Error).message}); ` +
                `do not pay again: present its receipt once it is confirmed`,
              { hash: transaction.hash, receiptId: transaction.receiptId, mined: true },
              { cause: err },
            );
          });
      }
      payload = {
        settlement: "client",
        receiptId: transaction.receiptId,
        transaction: transaction.hash as Hex,
        terms: termsToWire(transaction.prepared.terms),
        // The payee note's ciphertext and commitment: the API opens the one and checks the
        // receipt against the other (checkShieldedReceipt).
        ...(shielded
          ? {
              payeeMemo: transaction.prepared.payeeMemo,
              payeeCommitment: transaction.prepared.proof.payeeCommitment.toString(),
            }
          : {}),
        ...credential,
      };
    }
    // The attribute proof of the payment actually sent (a stale-root retry proves both again).
    const extensions =
      proved.attribute !== undefined ? { [ZK_ATTRIBUTE_EXTENSION]: { info: proved.attribute } } : undefined;
    return { x402Version, payload, ...(extensions && { extensions }) };
  }

  /**
   * Submits a client-settled payment; if the pool no longer knows the proof's root (the
   * tree moved on while proving), releases the note, syncs and proves once more.
   */
  async #submitFresh(
    prepared: PreparedPayment,
    reprove: () => Promise<PreparedPayment>,
  ): Promise<{ hash: Hex; receiptId: Hex; prepared: PreparedPayment }> {
    const wallet = this.#o.wallet;
    const relay = this.#o.relay;
    // Through the relayer: its account submits, the payer's never appears.
    const submit = async (p: PreparedPayment) => {
      if (!relay) return await wallet.submitPayment(p); // records the settlement and syncs
      const { transaction } = await relay.submit(p);
      // Mined: the change counts in the balance from now on. Failing to save that only
      // delays it to the next sync, so it must not turn a made payment into an error.
      await wallet.recordSettlement(p).catch(() => {});
      return transaction;
    };
    try {
      return { hash: await submit(prepared), receiptId: prepared.receiptId, prepared };
    } catch (err) {
      // A payment that may have left stays reserved (see releaseUnlessUnconfirmed).
      await wallet.releaseUnlessUnconfirmed(prepared, err);
      if (!isZkPayError(err, "stale_tree") && !isZkPayError(err, "unknown_root")) throw err;
      const again = await reprove();
      this.#o.onPrepared?.(again);
      try {
        return { hash: await submit(again), receiptId: again.receiptId, prepared: again };
      } catch (err2) {
        await wallet.releaseUnlessUnconfirmed(again, err2);
        throw err2;
      }
    }
  }
}

/**
 * The client side of zk-shielded: pays a requirement whose `payTo` is a shielded address
 * (`zk402...`) with a private note for that address instead of a public transfer. The
 * proof's terms pay nothing in public (payTo 0x0, amount 0); the payload adds the payee
 * note's encrypted opening (`payeeMemo`), which only the API can read. Options, limits and
 * settlement modes as {@link ZkExactClientScheme}; the amount the caps see is the price.
 *
 * @example
 * const client = new x402Client()
 *   .register("eip155:*", new ZkExactClientScheme({ wallet }))
 *   .register("eip155:*", new ZkShieldedClientScheme({ wallet }));
 */
export class ZkShieldedClientScheme extends ZkExactClientScheme {
  override readonly scheme: ZkSchemeName = ZK_SHIELDED_SCHEME;
}

/** The lower of two optional caps. */
function lowerOf(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

/** x402Client's atomic spend cap (a decimal string), if any. */
function atomic(cap: string | undefined): bigint | undefined {
  if (cap === undefined) return undefined;
  if (!/^\d+$/.test(cap)) throw new ZkPayError("invalid_argument", `spend cap ${cap} is not an amount in base units`);
  return BigInt(cap);
}

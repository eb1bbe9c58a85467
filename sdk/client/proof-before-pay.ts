/**
 * Proof before pay, the payer's side (issue #20): pays a `zk-escrow` route for one
 * inference and accepts the answer only if its proof shows that the promised model ran on
 * this input and produced this result.
 *
 * 1. The first request gets the route's 402; its `zk-escrow` requirement names the pool,
 *    the service verifier, the model commitment and the deadline window. The verifier must
 *    be registered in this wallet's pool, and the model the one the caller expects (when it
 *    pins one).
 * 2. The wallet proves an escrowed payment: the statement binds the verifier, the model,
 *    the hash of the input under a blinding derived from the seed, the deadline and a refund
 *    note of its own (recorded before anything is sent).
 * 3. The paid retry carries the input; the API escrows, proves, releases and answers.
 * 4. The answer is accepted only when the service proof verifies locally for exactly this
 *    statement and escrow, and the result it encrypts is the result the API sent.
 *    Otherwise `service_proof_invalid`: the wallet refunds the escrow after its deadline
 *    unless a valid release happened (then the result is on chain, and `releasedResult`
 *    decrypts it).
 */
import { encodePaymentSignatureHeader, decodePaymentRequiredHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import type { Address, Hash, Hex } from "viem";

import { verifyInferenceProof } from "../core/circuits/inference.js";
import { chainIdOf } from "../core/deployment.js";
import { ZkPayError } from "../core/errors.js";
import { statementToWire } from "../core/escrow.js";
import { decryptResult, inputHashOf } from "../core/inference/io.js";
import { checkPixels } from "../core/inference/model.js";
import { proofToWire, termsToWire } from "../core/wire.js";
import type { ProofProgress } from "../core/prover.js";
import type { PrivateWallet } from "./wallet.js";

/** The scheme name (see `402zk/server`'s `ZK_ESCROW_SCHEME`). */
const ZK_ESCROW = "zk-escrow";

/** What {@link payForInference} returns: an accepted, proven result. */
export interface VerifiedInference {
  logits: number[];
  label: number;
  /** Always true: an answer whose proof fails is thrown as `service_proof_invalid`. */
  verified: true;
  escrowId: Hex;
  payTx: Hash;
  releaseTx: Hash;
  price: bigint;
  payTo: Address;
  timings: { totalMs: number; paymentProveMs: number; serverMs: number; verifyMs: number };
}

/** Options of {@link payForInference}. */
export interface PayForInferenceOptions {
  /** The route's URL. */
  url: string;
  /** The input: 196 integers 0..255 (a 14x14 image, row-major). */
  pixels: readonly number[];
  /** The inference circuit's verification key (`loadInferenceVerificationKey()` in 402zk/node). */
  vkey: unknown;
  /** Refuse a route whose model is not this one (the commitment the API published). */
  expectedModelCommitment?: bigint;
  /** Most the caller pays, in base units (default: no cap). */
  maxPrice?: bigint;
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Proving progress of the payment proof. */
  onProgress?: (p: ProofProgress) => void;
}

const unixNow = () => BigInt(Math.floor(Date.now() / 1000));

/**
 * Pays a proof-before-pay route for one inference, verifies the proof, and returns the
 * result (see the module's notes). Every failure is a `ZkPayError` that says whether money
 * is held (`details.escrowId`): the wallet's `followEscrows()` refunds it after the deadline
 * if it was never released.
 *
 * @example
 * const r = await payForInference(wallet, { url, pixels, vkey: loadInferenceVerificationKey() });
 * console.log(r.label, r.releaseTx);
 */
export async function payForInference(wallet: PrivateWallet, o: PayForInferenceOptions): Promise<VerifiedInference> {
  checkPixels(o.pixels);
  const doFetch = o.fetch ?? globalThis.fetch;
  const body = JSON.stringify({ pixels: o.pixels });
  const t0 = performance.now();
  const first = await doFetch(o.url, { method: "POST", headers: { "content-type": "application/json" }, body });
  if (first.status !== 402) {
    throw new ZkPayError("not_x402", `expected 402 Payment Required from ${o.url}, got ${first.status}`);
  }
  const header = first.headers.get("payment-required");
  if (!header) throw new ZkPayError("not_x402", "the 402 has no PAYMENT-REQUIRED header");
  const required = decodePaymentRequiredHeader(header);
  const req = required.accepts.find((a) => a.scheme === ZK_ESCROW);
  if (!req) throw new ZkPayError("unsupported_scheme", `the route offers no ${ZK_ESCROW} payment`);
  const terms = escrowTermsOf(req);

  // The route must be this wallet's pool, and its verifier one the pool's operator registered.
  if (chainIdOf(req.network) !== wallet.pool.chainId) {
    throw new ZkPayError(
      "chain_mismatch",
      `the route is on ${req.network}, this wallet on chain ${wallet.pool.chainId}`,
    );
  }
  if (terms.facilitator.toLowerCase() !== wallet.pool.facilitator.toLowerCase()) {
    throw new ZkPayError("requirements_mismatch", `the route's pool ${terms.facilitator} is not this wallet's`);
  }
  if (!(await wallet.isServiceVerifier(terms.verifier))) {
    throw new ZkPayError(
      "requirements_mismatch",
      `the route's service verifier ${terms.verifier} is not registered in this pool (or the pool has no escrow)`,
    );
  }
  if (o.expectedModelCommitment !== undefined && terms.modelCommitment !== o.expectedModelCommitment) {
    throw new ZkPayError(
      "requirements_mismatch",
      "the route's model is not the one expected (another modelCommitment)",
    );
  }
  const price = BigInt(req.amount);
  if (o.maxPrice !== undefined && price > o.maxPrice) {
    throw new ZkPayError("spend_cap_exceeded", `the route asks ${price}, more than maxPrice ${o.maxPrice}`);
  }

  const now = unixNow();
  const expiry = now + BigInt(Math.min(req.maxTimeoutSeconds, 300));
  const deadline = now + BigInt(terms.deadlineSeconds);
  const tp = performance.now();
  const prepared = await wallet.preparePayment({
    payTo: req.payTo as Address,
    amount: price,
    conditionHash: terms.conditionHash,
    expiry,
    onProgress: o.onProgress,
    escrow: {
      verifier: terms.verifier,
      modelCommitment: terms.modelCommitment,
      deadline,
      inputHash: (b) => inputHashOf(o.pixels, b),
    },
  });
  const paymentProveMs = performance.now() - tp;
  const escrow = prepared.escrow!;
  const escrowId = prepared.receiptId;
  const payload = {
    x402Version: 2,
    resource: required.resource,
    accepted: req,
    payload: {
      proof: proofToWire(prepared.proof),
      terms: termsToWire(prepared.terms),
      memo: prepared.memo,
      refundMemo: escrow.refundMemo,
      statement: statementToWire(escrow.statement),
      inputBlinding: escrow.inputBlinding.toString(),
    },
  };
  const ts = performance.now();
  let res: Response;
  try {
    res = await doFetch(o.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "payment-signature": encodePaymentSignatureHeader(payload as never),
      },
      body,
    });
  } catch (err) {
    // The payment may have been escrowed: the wallet follows it (refund after the deadline).
    throw new ZkPayError(
      "payment_unconfirmed",
      `the paid request to ${o.url} failed (${(err as Error).message}); escrow ${escrowId} is refunded after ${deadline} if never released`,
      { escrowId, deadline: deadline.toString() },
      { cause: err },
    );
  }
  const answer = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  const serverMs = performance.now() - ts;
  if (res.status !== 200 || !answer) {
    const reason = typeof answer?.error === "string" ? answer.error : `HTTP ${res.status}`;
    if (answer?.paid !== true) await wallet.releasePayment(prepared);
    throw new ZkPayError(
      res.status === 402 || res.status === 400 ? "settlement_failed" : "service_proof_invalid",
      answer?.paid === true
        ? `the API escrowed the payment (${String(answer.payTx)}) but did not deliver (${reason}): escrow ${escrowId} is refunded to this wallet after ${deadline} (followEscrows)`
        : `the API refused the payment: ${reason} (${String(answer?.message ?? "")})`,
      { escrowId, deadline: deadline.toString(), status: res.status, answer },
    );
  }

  // Accept nothing unverified: the proof, for exactly this statement and escrow, and the
  // result it encrypts equal to the one sent.
  const tv = performance.now();
  const a = answer as unknown as {
    result: { logits: number[]; label: number };
    escrow: { id: Hex; payTx: Hash; releaseTx: Hash };
    serviceProof: {
      pA: [string, string];
      pB: [[string, string], [string, string]];
      pC: [string, string];
      publicSignals: { resultCiphertext: string };
    };
  };
  const refused = (why: string) =>
    new ZkPayError(
      "service_proof_invalid",
      `the API's answer is refused: ${why}; escrow ${escrowId} is refunded after ${deadline} unless a valid release happened`,
      { escrowId, deadline: deadline.toString() },
    );
  let ciphertext: bigint;
  let ok = false;
  try {
    ciphertext = BigInt(a.serviceProof.publicSignals.resultCiphertext);
    const p = a.serviceProof;
    ok = await verifyInferenceProof(
      o.vkey,
      {
        pA: [BigInt(p.pA[0]), BigInt(p.pA[1])],
        pB: [
          [BigInt(p.pB[0][0]), BigInt(p.pB[0][1])],
          [BigInt(p.pB[1][0]), BigInt(p.pB[1][1])],
        ],
        pC: [BigInt(p.pC[0]), BigInt(p.pC[1])],
      },
      [escrow.statement.modelCommitment, escrow.statement.inputHash, ciphertext, BigInt(escrowId)],
    );
  } catch {
    throw refused("its service proof is malformed");
  }
  if (!ok) throw refused("its service proof does not verify for this model, input and escrow");
  const proven = decryptResult(ciphertext, escrow.inputBlinding, BigInt(escrowId));
  const sent = a.result?.logits;
  if (!Array.isArray(sent) || sent.length !== proven.length || sent.some((x, i) => x !== proven[i])) {
    throw refused("the result it sent is not the result its proof encrypts");
  }
  const verifyMs = performance.now() - tv;
  // The release is on chain (the API says so); the escrow's state confirms it was this proof's.
  const status = await wallet.escrowStatus(escrowId);
  if (status !== "Released") throw refused(`the escrow is ${status} on chain, not released`);
  await wallet.sync();
  await wallet.followEscrows();
  const label = proven.indexOf(Math.max(...proven));
  return {
    logits: proven,
    label,
    verified: true,
    escrowId,
    payTx: a.escrow.payTx,
    releaseTx: a.escrow.releaseTx,
    price,
    payTo: req.payTo as Address,
    timings: { totalMs: performance.now() - t0, paymentProveMs, serverMs, verifyMs },
  };
}

/** The `zk-escrow` requirement's service terms, checked. */
function escrowTermsOf(req: PaymentRequirements): {
  facilitator: Address;
  conditionHash: Hex;
  verifier: Address;
  modelCommitment: bigint;
  deadlineSeconds: number;
} {
  const extra = req.extra as Record<string, unknown> | undefined;
  const e = extra?.escrow as Record<string, unknown> | undefined;
  const hexOk = (v: unknown, len: number) => typeof v === "string" && new RegExp(`^0x[0-9a-fA-F]{${len}}$`).test(v);
  if (
    !e ||
    !hexOk(extra?.facilitator, 40) ||
    !hexOk(extra?.conditionHash, 64) ||
    !hexOk(e.verifier, 40) ||
    typeof e.modelCommitment !== "string" ||
    !/^\d{1,78}$/.test(e.modelCommitment) ||
    typeof e.deadlineSeconds !== "number" ||
    !(e.deadlineSeconds > req.maxTimeoutSeconds && e.deadlineSeconds <= 86_400)
  ) {
    throw new ZkPayError("invalid_payload", "the zk-escrow requirement's extra.escrow terms are malformed");
  }
  return {
    facilitator: extra!.facilitator as Address,
    conditionHash: extra!.conditionHash as Hex,
    verifier: e.verifier as Address,
    modelCommitment: BigInt(e.modelCommitment),
    deadlineSeconds: e.deadlineSeconds,
  };
}

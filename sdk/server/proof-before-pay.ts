/**
 * Proof before pay, the API's side (issue #20): a route whose payment is held in escrow
 * until the API proves it ran the promised model on the payer's input.
 *
 * The route speaks x402 v2 on the wire: a request without payment gets a 402 whose
 * `PAYMENT-REQUIRED` header offers scheme `zk-escrow`, with the service terms in `extra`
 * (the pool, the registered service verifier, the model commitment, the deadline). The
 * paid retry carries `PAYMENT-SIGNATURE` (an escrowed payment: proof, terms, change memo,
 * the statement its proof binds, and the blinding of the payer's input) and the input in
 * its JSON body (`{ "pixels": [...] }`). The gate then:
 *
 * 1. checks the terms (payee, price, condition, expiry, verifier, model, deadline) and that
 *    the statement's `inputHash` is the hash of this body's input under that blinding;
 * 2. simulates `payEscrowed` (the pool checks root, nullifier and proof) and sends it;
 * 3. runs the model on the input (the handler) and proves the inference, bound to the
 *    escrow id, with the `inference` circuit;
 * 4. sends `release` with that proof: the pool pays the API and publishes the result,
 *    encrypted to the payer;
 * 5. answers 200 with the result, the service proof and both transaction hashes (and
 *    `PAYMENT-RESPONSE`).
 *
 * Every failure after step 2 leaves the escrow held: the API can release it later with the
 * same proof (until the deadline), or the payer's wallet refunds it after the deadline.
 * Nothing is lost on either side. The answer names the escrow id and what was sent.
 *
 * Framework-neutral: {@link ProofBeforePay.handle} takes headers and a parsed body and
 * returns status, headers and a JSON body; `nodeHandler` wraps it for node:http and Express.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

import { encodePaymentRequiredHeader, encodePaymentResponseHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { keccak256, stringToHex, type Address, type Hash, type Hex, type PublicClient, type WalletClient } from "viem";
import { z } from "zod";

import type { CircuitArtifacts } from "../core/circuits/artifacts.js";
import { proveInference } from "../core/circuits/inference.js";
import { caip2 } from "../core/deployment.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import { escrowAbi, EscrowStatementWireSchema, statementFromWire } from "../core/escrow.js";
import { facilitatorAbi } from "../core/abi.js";
import { SNARK_SCALAR_FIELD, toBytes32 } from "../core/field.js";
import { httpAnswerOf } from "../core/http.js";
import { argmax, inputHashOf } from "../core/inference/io.js";
import { checkPixels, infer, type InferenceModel } from "../core/inference/model.js";
import { mapPayRevert } from "../core/revert.js";
import { proofFromWire, WireTermsSchema } from "../core/wire.js";

/** The x402 scheme of an escrowed (proof-before-pay) payment. */
export const ZK_ESCROW_SCHEME = "zk-escrow";

const ABI = [...facilitatorAbi, ...escrowAbi] as const;

const decimal = z.string().regex(/^\d{1,78}$/);
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/);

/** The service terms a proof-before-pay requirement carries in `extra.escrow`. */
export const EscrowTermsSchema = z
  .object({
    /** The registered service verifier (`InferenceVerifier`). */
    verifier: address,
    /** Circuit of the service proof (`inference`) and its statement version. */
    circuit: z.literal("inference"),
    version: z.string(),
    /** The model's commitment (decimal), as the API publishes it. */
    modelCommitment: decimal,
    /** Seconds from payment to deadline: the API must release within them, or the payer is refunded. */
    deadlineSeconds: z.number().int().positive(),
  })
  .strict();

/** The escrowed payment a `zk-escrow` `PAYMENT-SIGNATURE` carries in `payload`. */
export const EscrowPayloadSchema = z
  .object({
    proof: z.object({
      pA: z.tuple([decimal, decimal]),
      pB: z.tuple([z.tuple([decimal, decimal]), z.tuple([decimal, decimal])]),
      pC: z.tuple([decimal, decimal]),
      root: decimal,
      treeSize: decimal,
      nullifierHash: decimal,
      payeeCommitment: decimal,
      changeCommitment: decimal,
    }),
    terms: WireTermsSchema,
    memo: z.string().regex(/^0x([0-9a-fA-F]{2})*$/),
    /** The refund note's memo (its keccak256 is the statement's refundMemoHash). */
    refundMemo: z.string().regex(/^0x([0-9a-fA-F]{2}){1,512}$/),
    statement: EscrowStatementWireSchema,
    /** The blinding of the payer's input (the API needs it to prove; it never goes on chain). */
    inputBlinding: decimal,
  })
  .strict();

/** What a `zk-escrow` payment payload is, parsed. */
export type EscrowPayload = z.infer<typeof EscrowPayloadSchema>;

/** Options of {@link createProofBeforePay}. */
export interface ProofBeforePayOptions {
  pool: { chainId: number; facilitator: Address; token: Address };
  publicClient: PublicClient;
  /** The API's account: it sends `payEscrowed` and `release` (and pays their gas). */
  walletClient: WalletClient;
  /** Who is paid when the escrow is released (default: the wallet client's account). */
  payTo?: Address;
  /** Price in the token's base units. */
  price: bigint;
  /** The registered service verifier (the deployment record's `escrow.serviceVerifiers.inference`). */
  verifier: Address;
  /** The model the API runs and proves (its commitment is published in the 402). */
  model: InferenceModel;
  /** The inference circuit's artifacts (`inferenceArtifacts()` in 402zk/node). */
  artifacts: CircuitArtifacts;
  /** The route's URL (x402 `resource`). */
  resource: string;
  description?: string;
  /** Seconds the payer's proof stays valid (the payment's expiry; default 120). */
  maxTimeoutSeconds?: number;
  /** Seconds from the request to the escrow's deadline (default 600). */
  deadlineSeconds?: number;
  /** Progress of each request's steps, for logs. */
  onStep?: (step: ProofBeforePayStep) => void;
  /**
   * Runs after the service proof is made and before `release` is sent. For operators'
   * tests of a crash at the worst moment: a throw here leaves the escrow held (the answer
   * is 502 with the proof, so the release can be sent later).
   */
  beforeRelease?: (escrowId: Hex) => void | Promise<void>;
}

/** One step of a proof-before-pay request, with its duration. */
export interface ProofBeforePayStep {
  escrowId: Hex;
  step: "escrowed" | "proved" | "released";
  ms: number;
  tx?: Hash;
}

/** A request as the gate sees it: lower-case headers and the parsed JSON body. */
export interface ProofBeforePayRequest {
  headers: Record<string, string | undefined>;
  body: unknown;
}

/** The gate's answer. */
export interface ProofBeforePayAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** The body of a 200 answer: the result, its proof, and the escrow's transactions. */
export interface ProofBeforePayResult {
  result: { logits: number[]; label: number };
  escrow: { id: Hex; payTx: Hash; releaseTx: Hash; resultCiphertext: string };
  serviceProof: {
    pA: [string, string];
    pB: [[string, string], [string, string]];
    pC: [string, string];
    publicSignals: { modelCommitment: string; inputHash: string; resultCiphertext: string; escrowId: string };
  };
  timings: { escrowMs: number; proveMs: number; releaseMs: number };
}

/** The gate {@link createProofBeforePay} builds. */
export interface ProofBeforePay {
  /** The route's `zk-escrow` requirement (what its 402 offers). */
  requirement(): PaymentRequirements;
  /** Answers one request to the route. Never throws for bad input: it answers with a reason. */
  handle(req: ProofBeforePayRequest): Promise<ProofBeforePayAnswer>;
  /** The same as a node:http / Express handler (reads the JSON body itself unless a parser did). */
  nodeHandler(): (req: IncomingMessage & { body?: unknown }, res: ServerResponse) => void;
}

/** The condition hash every payment of a route binds: the route's resource and model. */
export function escrowConditionHash(resource: string, modelCommitment: bigint): Hex {
  return keccak256(stringToHex(`402zk.escrow.v1:${resource}:${modelCommitment}`));
}

/**
 * Builds a proof-before-pay route (see the module's notes).
 *
 * @example
 * const route = createProofBeforePay({ pool, publicClient, walletClient, price: 10_000n,
 *   verifier: record.escrow.serviceVerifiers.inference, model: loadInferenceModel(),
 *   artifacts: inferenceArtifacts(), resource: "http://127.0.0.1:4021/infer" });
 * http.createServer(route.nodeHandler()).listen(4021);
 */
export function createProofBeforePay(opts: ProofBeforePayOptions): ProofBeforePay {
  const account = opts.walletClient.account;
  if (!account)
    throw new ZkPayError("invalid_argument", "the wallet client needs an account (it sends the escrow's transactions)");
  const payTo = opts.payTo ?? account.address;
  const maxTimeoutSeconds = opts.maxTimeoutSeconds ?? 120;
  const deadlineSeconds = opts.deadlineSeconds ?? 600;
  if (deadlineSeconds <= maxTimeoutSeconds) {
    throw new ZkPayError("invalid_argument", "deadlineSeconds must be longer than maxTimeoutSeconds");
  }
  const conditionHash = escrowConditionHash(opts.resource, opts.model.modelCommitment);
  const network = caip2(opts.pool.chainId);
  const requirement: PaymentRequirements = {
    scheme: ZK_ESCROW_SCHEME,
    network,
    asset: opts.pool.token,
    amount: opts.price.toString(),
    payTo,
    maxTimeoutSeconds,
    extra: {
      facilitator: opts.pool.facilitator,
      conditionHash,
      escrow: {
        verifier: opts.verifier,
        circuit: "inference",
        version: opts.model.version,
        modelCommitment: opts.model.modelCommitment.toString(),
        deadlineSeconds,
      } satisfies z.infer<typeof EscrowTermsSchema>,
    },
  };
  const paymentRequired = () => ({
    x402Version: 2,
    error: "payment required: an escrowed payment (zk-escrow), released only against a proof of the inference",
    resource: {
      url: opts.resource,
      description: opts.description ?? "proof-before-pay inference",
      mimeType: "application/json",
    },
    accepts: [requirement],
  });

  const refuse = (err: ZkPayError, extra?: Record<string, unknown>): ProofBeforePayAnswer => {
    const a = httpAnswerOf(err, extra);
    return { status: a.status, headers: a.headers, body: a.body };
  };

  async function send(functionName: "payEscrowed" | "release", args: readonly unknown[]): Promise<Hash> {
    try {
      const { request } = await opts.publicClient.simulateContract({
        address: opts.pool.facilitator,
        abi: ABI,
        functionName,
        args: args as never,
        account: account!,
      });
      const hash = await opts.walletClient.writeContract(request as never);
      const rc = await opts.publicClient.waitForTransactionReceipt({ hash });
      if (rc.status !== "success")
        throw new ZkPayError("settlement_failed", `${functionName} ${hash} reverted`, { hash });
      return hash;
    } catch (err) {
      throw isZkPayError(err) ? err : mapPayRevert(err);
    }
  }

  async function handle(req: ProofBeforePayRequest): Promise<ProofBeforePayAnswer> {
    const header = req.headers["payment-signature"];
    if (!header) {
      const pr = paymentRequired();
      return { status: 402, headers: { "payment-required": encodePaymentRequiredHeader(pr as never) }, body: pr };
    }
    // 1. Parse and check everything that costs nothing.
    let payload: EscrowPayload;
    let pixels: number[];
    try {
      const decoded = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as {
        x402Version?: unknown;
        accepted?: { scheme?: unknown };
        payload?: unknown;
      };
      if (decoded.x402Version !== 2) throw new ZkPayError("unsupported_version", "x402Version must be 2");
      if (decoded.accepted?.scheme !== ZK_ESCROW_SCHEME) {
        throw new ZkPayError("unsupported_scheme", `this route takes ${ZK_ESCROW_SCHEME} payments only`);
      }
      const parsed = EscrowPayloadSchema.safeParse(decoded.payload);
      if (!parsed.success) {
        throw new ZkPayError(
          "invalid_payload",
          `zk-escrow payload: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`,
        );
      }
      payload = parsed.data;
      const body = req.body as { pixels?: unknown } | undefined;
      if (!body || !Array.isArray(body.pixels)) {
        throw new ZkPayError("invalid_payload", 'the body must be JSON { "pixels": [196 integers 0..255] }');
      }
      pixels = body.pixels as number[];
      checkPixels(pixels);
    } catch (err) {
      if (isZkPayError(err)) return refuse(err);
      return refuse(
        new ZkPayError("malformed_header", `PAYMENT-SIGNATURE is not base64 JSON: ${(err as Error).message}`),
      );
    }
    const t = payload.terms;
    const s = payload.statement;
    const now = BigInt(Math.floor(Date.now() / 1000));
    const mismatch = (what: string) =>
      refuse(new ZkPayError("requirements_mismatch", `the escrowed payment's ${what} is not this route's`));
    if (t.payTo.toLowerCase() !== payTo.toLowerCase()) return mismatch("payee");
    if (BigInt(t.amount) !== opts.price) return mismatch("amount");
    if (t.conditionHash.toLowerCase() !== conditionHash.toLowerCase()) return mismatch("condition");
    // The server settles: a relayer fee would be paid to the relayer named by the payer.
    if (BigInt(t.fee) !== 0n) return mismatch("fee (this route settles itself: fee 0)");
    if (BigInt(t.expiry) > now + BigInt(maxTimeoutSeconds) + 30n) return mismatch("expiry (beyond maxTimeoutSeconds)");
    if (s.verifier.toLowerCase() !== opts.verifier.toLowerCase()) return mismatch("service verifier");
    if (BigInt(s.modelCommitment) !== opts.model.modelCommitment) return mismatch("model commitment");
    // The API must have time to prove and release, even if the payment settles at its
    // expiry: at least half the promised window after both now and the expiry.
    const margin = BigInt(Math.floor(deadlineSeconds / 2));
    if (BigInt(s.deadline) < now + margin || BigInt(s.deadline) < BigInt(t.expiry) + margin) {
      return mismatch("deadline (too soon to prove and release)");
    }
    const inputBlinding = BigInt(payload.inputBlinding);
    if (inputBlinding >= SNARK_SCALAR_FIELD) {
      return refuse(new ZkPayError("invalid_payload", "inputBlinding is not a field element"));
    }
    if (inputHashOf(pixels, inputBlinding) !== BigInt(s.inputHash)) {
      // The escrow would name another input than the one sent: no proof could release it.
      return refuse(
        new ZkPayError("invalid_payload", "the statement's inputHash is not the hash of this request's input"),
      );
    }
    const statement = statementFromWire(s);
    const proof = proofFromWire(payload.proof as never);
    const terms = {
      payTo: t.payTo as Address,
      amount: BigInt(t.amount),
      relayer: t.relayer as Address,
      fee: BigInt(t.fee),
      conditionHash: t.conditionHash as Hex,
      expiry: BigInt(t.expiry),
    };
    const escrowId = toBytes32(proof.nullifierHash);

    // 2. The escrow: the pool checks the proof (simulated first: a bad payment costs no gas).
    const t0 = performance.now();
    let payTx: Hash;
    try {
      payTx = await send("payEscrowed", [
        proof,
        terms,
        payload.memo as Hex,
        "0x",
        statement,
        payload.refundMemo as Hex,
      ]);
    } catch (err) {
      return refuse(err as ZkPayError);
    }
    const escrowMs = performance.now() - t0;
    opts.onStep?.({ escrowId, step: "escrowed", ms: escrowMs, tx: payTx });

    // 3. The handler: run the model, and prove that run (bound to this escrow).
    const paid = { paid: true, escrowId, payTx, deadline: statement.deadline.toString() };
    const t1 = performance.now();
    let proven: Awaited<ReturnType<typeof proveInference>>;
    try {
      proven = await proveInference(opts.artifacts, opts.model, pixels, inputBlinding, proof.nullifierHash);
    } catch (err) {
      // Held, not lost: the payer's wallet refunds it after the deadline.
      const e = isZkPayError(err) ? err : new ZkPayError("proving_failed", (err as Error).message);
      return { ...refuse(e, paid), status: 502 };
    }
    const proveMs = performance.now() - t1;
    opts.onStep?.({ escrowId, step: "proved", ms: proveMs });
    const serviceProof: ProofBeforePayResult["serviceProof"] = {
      pA: [proven.proof.pA[0].toString(), proven.proof.pA[1].toString()],
      pB: [
        [proven.proof.pB[0][0].toString(), proven.proof.pB[0][1].toString()],
        [proven.proof.pB[1][0].toString(), proven.proof.pB[1][1].toString()],
      ],
      pC: [proven.proof.pC[0].toString(), proven.proof.pC[1].toString()],
      publicSignals: {
        modelCommitment: proven.publicSignals.modelCommitment.toString(),
        inputHash: proven.publicSignals.inputHash.toString(),
        resultCiphertext: proven.publicSignals.resultCiphertext.toString(),
        escrowId: proven.publicSignals.escrowId.toString(),
      },
    };

    // 4. Release: the pool verifies the service proof, pays the API, publishes the result.
    const t2 = performance.now();
    let releaseTx: Hash;
    try {
      await opts.beforeRelease?.(escrowId);
      releaseTx = await send("release", [
        escrowId,
        terms.payTo,
        terms.amount,
        statement,
        { ...proven.proof, resultCiphertext: proven.publicSignals.resultCiphertext },
      ]);
    } catch (err) {
      const e = isZkPayError(err) ? err : new ZkPayError("settlement_failed", (err as Error).message);
      // The proof goes back with the answer: whoever holds it can still release before the deadline.
      return { ...refuse(e, { ...paid, serviceProof }), status: 502 };
    }
    const releaseMs = performance.now() - t2;
    opts.onStep?.({ escrowId, step: "released", ms: releaseMs, tx: releaseTx });

    // 5. The result, with what lets the payer check it.
    const logits = [...infer(opts.model, pixels).logits];
    const body: ProofBeforePayResult = {
      result: { logits, label: argmax(logits) },
      escrow: { id: escrowId, payTx, releaseTx, resultCiphertext: serviceProof.publicSignals.resultCiphertext },
      serviceProof,
      timings: { escrowMs, proveMs, releaseMs },
    };
    const settle = { success: true, transaction: releaseTx, network, payer: undefined };
    return {
      status: 200,
      headers: { "payment-response": encodePaymentResponseHeader(settle as never) },
      body,
    };
  }

  return {
    requirement: () => requirement,
    handle,
    nodeHandler: () => (req, res) => {
      void (async () => {
        let body = req.body;
        if (body === undefined && req.method !== "GET") {
          const chunks: Buffer[] = [];
          let size = 0;
          for await (const c of req) {
            size += (c as Buffer).length;
            if (size > 64 * 1024) {
              const a = refuse(new ZkPayError("body_too_large", "the request body is over 64 KiB"));
              res.writeHead(a.status, { "content-type": "application/json", ...a.headers }).end(JSON.stringify(a.body));
              return;
            }
            chunks.push(c as Buffer);
          }
          const text = Buffer.concat(chunks).toString("utf8");
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            const a = refuse(new ZkPayError("invalid_payload", "the request body is not JSON"));
            res.writeHead(a.status, { "content-type": "application/json", ...a.headers }).end(JSON.stringify(a.body));
            return;
          }
        }
        const headers: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v[0] : v;
        const a = await handle({ headers, body });
        res.writeHead(a.status, { "content-type": "application/json", ...a.headers }).end(JSON.stringify(a.body));
      })().catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "internal_error", message: (err as Error).message }));
      });
    },
  };
}

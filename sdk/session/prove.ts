import type { CircuitArtifacts } from "../core/circuits/artifacts.js";
import { proveGroth16, type ProofProgress } from "../core/prover.js";
import { PRESENTATION_SIGNALS } from "../core/circuits/registry.js";
import { ZkPayError } from "../core/errors.js";
import { holderCommitmentOf, originTokenOf, type Credential, type HolderSecrets } from "./credential.js";
import type { Presentation } from "./wire.js";

/** Everything the presentation circuit needs. */
export interface PresentationWitness {
  credential: Credential;
  holder: HolderSecrets;
  /** 0-based presentation number; below `credential.maxPresentations`. */
  index: number;
  /** The route's minimum tier (public). */
  requiredTier: number;
  /** Coarse unix time (public): a multiple of the service's time step. */
  now: number;
  /** The origin whose replay store sees the token (public). */
  originId: bigint;
  /** Request binding (public), or 0n. */
  context: bigint;
}

/**
 * The presentation circuit's input signals for `w` (decimal strings).
 *
 * @example
 * await snarkjs.wtns.calculate(presentationCircuitInput(w), wasm, wtns);
 */
export function presentationCircuitInput(w: PresentationWitness): Record<string, string> {
  const c = w.credential;
  return {
    serviceId: c.serviceId.toString(),
    requiredTier: String(w.requiredTier),
    now: String(w.now),
    originId: w.originId.toString(),
    context: w.context.toString(),
    Ax: c.issuer[0].toString(),
    Ay: c.issuer[1].toString(),
    R8x: c.signature.R8[0].toString(),
    R8y: c.signature.R8[1].toString(),
    S: c.signature.S.toString(),
    tier: String(c.tier),
    issuedAt: String(c.issuedAt),
    expiresAt: String(c.expiresAt),
    maxPresentations: String(c.maxPresentations),
    nullifierSeed: w.holder.nullifierSeed.toString(),
    blinding: w.holder.blinding.toString(),
    index: String(w.index),
  };
}

/**
 * Proves a presentation of `w.credential`, client-side (~0.2 s). Checks first what the
 * circuit would refuse, with the reason a server would give: `presentations_exhausted`,
 * `credential_expired`, `tier_too_low`, `invalid_argument`.
 *
 * @example
 * const p = await provePresentation(
 *   { credential, holder, index: 0, requiredTier: 1, now, originId, context: 0n },
 *   artifactsOf("presentation"),
 * );
 */
export async function provePresentation(
  w: PresentationWitness,
  artifacts: CircuitArtifacts,
  options: { onProgress?: (p: ProofProgress) => void } = {},
): Promise<Presentation & { timings: { witnessMs: number; proveMs: number } }> {
  const c = w.credential;
  if (holderCommitmentOf(w.holder) !== c.holderCommitment) {
    throw new ZkPayError("invalid_argument", "the holder secrets do not open this credential's commitment");
  }
  if (!Number.isSafeInteger(w.index) || w.index < 0 || w.index >= c.maxPresentations) {
    throw new ZkPayError(
      "presentations_exhausted",
      `presentation ${w.index} of a credential with ${c.maxPresentations} presentations`,
    );
  }
  if (w.now >= c.expiresAt) throw new ZkPayError("credential_expired", `the credential expired at ${c.expiresAt}`);
  if (w.now < c.issuedAt) throw new ZkPayError("invalid_argument", `the credential is valid from ${c.issuedAt}`);
  if (c.tier < w.requiredTier) {
    throw new ZkPayError("tier_too_low", `the credential's tier ${c.tier} is below the required ${w.requiredTier}`);
  }
  const { proof, publicSignals, timings } = await proveGroth16(presentationCircuitInput(w), artifacts, options);
  const originToken = originTokenOf(w.holder.nullifierSeed, w.originId, w.index);
  // The prover computed the token; the reference implementation must agree.
  if (publicSignals[PRESENTATION_SIGNALS.originToken] !== originToken) {
    throw new ZkPayError("proving_failed", "circuit output differs from the reference implementation");
  }
  return {
    proof,
    originToken,
    serviceId: c.serviceId,
    requiredTier: w.requiredTier,
    now: w.now,
    originId: w.originId,
    context: w.context,
    timings,
  };
}

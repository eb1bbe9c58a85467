/**
 * The one table of the SDK's circuits. The build (scripts/build-circuits.ts), the artifact
 * loaders (`artifactsOf` in 402zk/node and in 402zk/core for browsers), the
 * artifact-consistency test and the bench all read it: adding a circuit adds one entry.
 *
 * Browser-safe: no Node imports.
 */
import { ZkPayError } from "../errors.js";

/** A Solidity verifier generated from a circuit's verification key. */
export interface OnChainVerifier {
  /** Contract name in the generated source. */
  readonly contract: string;
  /** Generated source, relative to the repository root. */
  readonly source: string;
  /** `single`: snarkjs' one-proof verifier; `batch`: the constants over Groth16Batch.sol. */
  readonly kind: "single" | "batch";
  /** Key of its sha256 in the manifest's `sha256` record. */
  readonly manifestKey: string;
}

/** What the SDK knows about one circuit. */
export interface CircuitSpec {
  /** The main component, relative to the repository root. */
  readonly main: string;
  /**
   * Version of the circuit's statement (its inputs, outputs and note format). Recorded in
   * the manifest and in deployment records, so `402zk doctor` can tell artifacts and a
   * deployment of different versions apart. Bump it whenever the statement changes.
   */
  readonly version: string;
  /**
   * log2 of the Powers of Tau the circuit needs (constraints + public signals + 1 must fit
   * 2^power rows). A circuit with a larger power needs its own ceremony file.
   */
  readonly ptauPower: number;
  /** Template parameters of the main component, recorded in the manifest. */
  readonly params: Readonly<Record<string, number>>;
  /** Public signals in circuit order (outputs first, then public inputs). */
  readonly publicSignals: readonly string[];
  /** Verifier contracts generated from the key; empty when verified off chain only. */
  readonly verifiers: readonly OnChainVerifier[];
}

/**
 * Every circuit of the SDK.
 *
 * - `payment` (v2): spends one key-owned note into `publicValue` (= amount to a transparent
 *   payee + fee, split by the terms in `context`) + a payee note + a change note; one
 *   circuit for both zk-exact (amount public, the empty payee note) and zk-shielded
 *   (amount 0, the payee note carries the price).
 *   Verified on chain by the Facilitator (one proof, or a batch with `payBatch`).
 * - `presentation`: shows a session credential without linking presentations; verified off
 *   chain by the session service, never on chain.
 * - `inference`: proof-before-pay's service circuit: `result = model(input)` for a 196-25-10
 *   binary-weight MLP with a committed private model, the payer's blinded input and the
 *   result encrypted to the payer (circuits/inference.circom); verified on chain by the
 *   escrow's release through `InferenceVerifier`.
 * - `attribute` (Verify & Pay): an identity credential from a trusted issuer satisfies the
 *   route's rule (age, country, flags), is not expired nor revoked, and is bound to the
 *   payment's nullifier and terms (circuits/attribute.circom); verified off chain by the API.
 *
 * @example
 * CIRCUITS.payment.publicSignals; // ["nullifierHash", "payeeCommitment", "changeCommitment", "root", "treeIndex", "publicValue", "context"]
 */
export const CIRCUITS = {
  payment: {
    main: "circuits/main/payment.circom",
    version: "payment-v2",
    // 2^14 = 16,384 rows: depth 24 with key-owned notes and two outputs has 9,244
    // constraints + 8 public rows (v1, one output and knowledge-owned notes, fit 2^13).
    ptauPower: 14,
    params: { maxDepth: 24, valueBits: 128 },
    publicSignals: [
      "nullifierHash",
      "payeeCommitment",
      "changeCommitment",
      "root",
      "treeIndex",
      "publicValue",
      "context",
    ],
    verifiers: [
      {
        contract: "PaymentVerifier",
        source: "contracts/verifiers/PaymentVerifier.sol",
        kind: "single",
        manifestKey: "verifier",
      },
      {
        contract: "PaymentBatchVerifier",
        source: "contracts/verifiers/PaymentBatchVerifier.sol",
        kind: "batch",
        manifestKey: "batchVerifier",
      },
    ],
  },
  presentation: {
    main: "circuits/main/presentation.circom",
    version: "presentation-v1",
    // ~5.7k constraints + 7 public rows.
    ptauPower: 13,
    params: { tierBits: 16, timeBits: 40, countBits: 32 },
    publicSignals: ["originToken", "serviceId", "requiredTier", "now", "originId", "context"],
    verifiers: [],
  },
  inference: {
    main: "circuits/main/inference.circom",
    version: "inference-v1",
    // 14,610 constraints + 4 public rows + 1 (a 196-25-10 binary-weight MLP, its model
    // commitment, the input hash and the result's encryption).
    ptauPower: 14,
    params: { inputs: 196, hidden: 25, outputs: 10 },
    publicSignals: ["modelCommitment", "inputHash", "resultCiphertext", "escrowId"],
    verifiers: [
      {
        contract: "InferenceVerifier",
        source: "contracts/verifiers/InferenceVerifier.sol",
        kind: "single",
        manifestKey: "verifier",
      },
    ],
  },
  attribute: {
    main: "circuits/main/attribute.circom",
    version: "attribute-v1",
    // 16,000 constraints + 18 public rows + 1 = 16,019 <= 2^14 (an EdDSA-Poseidon
    // signature, the holder key, a 21-level revocation SMT, a 4-level issuer path, the
    // payment's nullifier and the rule's comparisons).
    ptauPower: 14,
    params: { revDepth: 20, issuerDepth: 4 },
    publicSignals: [
      "pseudonym",
      "context",
      "nullifierHash",
      "issuersRoot",
      "today",
      "minAge",
      "countryMode",
      "countryMask0",
      "countryMask1",
      "countryMask2",
      "countryMask3",
      "countryMask4",
      "countryMask5",
      "countryMask6",
      "countryMask7",
      "requiredFlags",
      "serviceId",
      "epoch",
    ],
    verifiers: [],
  },
} as const satisfies Record<string, CircuitSpec>;

/** Name of a circuit in {@link CIRCUITS}. */
export type CircuitName = keyof typeof CIRCUITS;

/** The names of every circuit, in table order. @example for (const name of CIRCUIT_NAMES) build(name); */
export const CIRCUIT_NAMES = Object.keys(CIRCUITS) as CircuitName[];

/** Public-signal names of circuit `N`. */
export type SignalName<N extends CircuitName> = (typeof CIRCUITS)[N]["publicSignals"][number];

/** True when `name` is a circuit of the table. @example if (!isCircuitName(arg)) throw ...; */
export function isCircuitName(name: string): name is CircuitName {
  return Object.hasOwn(CIRCUITS, name);
}

/** File names of a circuit's artifacts, by the one rule `<name>.<kind>`. */
export interface ArtifactFileNames {
  wasm: string;
  zkey: string;
  vkey: string;
  manifest: string;
}

/**
 * The artifact file names of `name`: `<name>.wasm`, `<name>.zkey`, `<name>.vkey.json`,
 * `<name>.manifest.json` (in circuits/artifacts, or under a browser's base URL).
 *
 * @example
 * artifactFileNames("payment").manifest; // "payment.manifest.json"
 */
export function artifactFileNames(name: CircuitName): ArtifactFileNames {
  return {
    wasm: `${name}.wasm`,
    zkey: `${name}.zkey`,
    vkey: `${name}.vkey.json`,
    manifest: `${name}.manifest.json`,
  };
}

/**
 * Index of each public signal of `name`, by signal name (the circuit's order), so that code
 * reads `publicSignals[PAYMENT_SIGNALS.root]` instead of a magic number.
 *
 * @example
 * const idx = signalIndex("payment");
 * publicSignals[idx.nullifierHash]; // 0
 */
export function signalIndex<N extends CircuitName>(name: N): { readonly [K in SignalName<N>]: number } {
  const out: Record<string, number> = {};
  CIRCUITS[name].publicSignals.forEach((s, i) => (out[s] = i));
  return Object.freeze(out) as { readonly [K in SignalName<N>]: number };
}

/** Named indices of the payment circuit's public signals. @example publicSignals[PAYMENT_SIGNALS.root] */
export const PAYMENT_SIGNALS = signalIndex("payment");

/** Named indices of the presentation circuit's public signals. @example publicSignals[PRESENTATION_SIGNALS.originToken] */
export const PRESENTATION_SIGNALS = signalIndex("presentation");

/** Named indices of the inference circuit's public signals. @example publicSignals[INFERENCE_SIGNALS.resultCiphertext] */
export const INFERENCE_SIGNALS = signalIndex("inference");

/** Named indices of the attribute circuit's public signals. @example publicSignals[ATTRIBUTE_SIGNALS.pseudonym] */
export const ATTRIBUTE_SIGNALS = signalIndex("attribute");

/**
 * A circuit's public signals as a record by name. Throws `invalid_argument` when the
 * count is not the circuit's.
 *
 * @example
 * const { nullifierHash, root } = namedSignals("payment", result.publicSignals);
 */
export function namedSignals<N extends CircuitName, T>(
  name: N,
  publicSignals: readonly T[],
): { readonly [K in SignalName<N>]: T } {
  const names = CIRCUITS[name].publicSignals;
  if (publicSignals.length !== names.length) {
    throw new ZkPayError(
      "invalid_argument",
      `${name}: ${names.length} public signals expected, got ${publicSignals.length}`,
    );
  }
  const out: Record<string, T> = {};
  names.forEach((s, i) => (out[s] = publicSignals[i]!));
  return out as { readonly [K in SignalName<N>]: T };
}

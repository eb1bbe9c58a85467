/**
 * The attribute circuit (`attribute-v1`, circuits/attribute.circom) of Verify & Pay: the
 * payer proves its identity credential satisfies a paid route's rule (age, country,
 * flags), is unexpired, unrevoked and from a trusted issuer, bound to the payment it comes
 * with. Input signals, proving, the public-signal list the verifier rebuilds, and the
 * verifier. The credential, revocation, issuer-set and rule primitives are in core/identity.
 *
 * Browser-safe: no Node imports.
 */
import { poseidon4 } from "poseidon-lite/poseidon4";

import { ZkPayError } from "../errors.js";
import { isFieldElement } from "../field.js";
import { commitmentOf, nullifyingKeyOf, ownerKeyOf } from "../note.js";
import { hash4 } from "../poseidon.js";
import { proveGroth16, type ProofProgress } from "../prover.js";
import { Groth16Verifier } from "../verifier.js";
import { ATTR_PSEUDONYM_DOMAIN, REV_SMT_LEVELS, ISSUER_DEPTH } from "../identity/constants.js";
import { verifyCredentialSignature, type AttributeCredential, type HolderKey } from "../identity/credential.js";
import { issuerMembership, type TrustedIssuer } from "../identity/issuers.js";
import type { RevocationTree } from "../identity/revocation.js";
import { checkRule, isValidYmd, ruleSignals, type AttributeRule } from "../identity/rule.js";
import type { CircuitArtifacts } from "./artifacts.js";
import { fromSolidityProof, type Groth16Proof } from "./proof.js";
import { ATTRIBUTE_SIGNALS, CIRCUITS } from "./registry.js";

/** What the verifier (the paid API) fixes and checks: the proof's public inputs. */
export interface AttributeStatement {
  /** BigInt(terms.conditionHash) mod p: the payment's terms. */
  context: bigint;
  /** The payment proof's nullifier hash (its receipt id). */
  nullifierHash: bigint;
  /** Root of the API's trusted-issuer list ({@link issuersRootOf}). */
  issuersRoot: bigint;
  /** The verifier's date, YYYYMMDD. */
  today: number;
  rule: AttributeRule;
  /** The pseudonym's scope: the service (e.g. a hash of the API's origin)... */
  serviceId: bigint;
  /** ...and the epoch (e.g. the day number). */
  epoch: bigint;
}

/** The paying note, as the payment circuit spent it (to recompute its nullifier). */
export interface AttributeNote {
  spendingKey: bigint;
  value: bigint;
  blinding: bigint;
  treeIndex: bigint;
  leafIndex: bigint;
}

/** Everything the payer's wallet proves from. */
export interface AttributeProveInput {
  credential: AttributeCredential;
  holder: HolderKey;
  /** The API's trusted issuers, in its order (their root must be `statement.issuersRoot`). */
  issuers: readonly TrustedIssuer[];
  /** The revocation tree of the credential's issuer (from its published list). */
  revocation: RevocationTree;
  note: AttributeNote;
  statement: AttributeStatement;
}

function checkField(x: unknown, name: string): void {
  if (typeof x !== "bigint" || !isFieldElement(x)) {
    throw new ZkPayError("invalid_argument", `${name} must be a field element (0 <= x < p)`, { field: name });
  }
}

function checkStatement(s: AttributeStatement): void {
  if (s === null || typeof s !== "object") throw new ZkPayError("invalid_argument", "statement must be an object");
  for (const k of ["context", "nullifierHash", "issuersRoot", "serviceId", "epoch"] as const) checkField(s[k], k);
  if (!isValidYmd(s.today)) {
    throw new ZkPayError("invalid_argument", "statement.today must be a YYYYMMDD date", { field: "today" });
  }
  ruleSignals(s.rule); // shape and ranges
}

/**
 * The sharing deterrent: Poseidon4(ATTR_PSEUDONYM_DOMAIN, hk, serviceId, epoch), the
 * circuit's output. The same holder gets the same value at one service in one epoch.
 *
 * @example
 * const p = pseudonymOf(holder.scalar, serviceId, epoch);
 */
export function pseudonymOf(holderScalar: bigint, serviceId: bigint, epoch: bigint): bigint {
  checkField(holderScalar, "holderScalar");
  checkField(serviceId, "serviceId");
  checkField(epoch, "epoch");
  return poseidon4([ATTR_PSEUDONYM_DOMAIN, holderScalar, serviceId, epoch]);
}

/**
 * The public signals in circuit order (`CIRCUITS.attribute.publicSignals`): what a
 * verifier rebuilds from its own statement and the proof's claimed pseudonym.
 *
 * @example
 * const ok = await verifyAttributeProof(vkey, proof, attributePublicSignals(statement, pseudonym));
 */
export function attributePublicSignals(s: AttributeStatement, pseudonym: bigint): bigint[] {
  checkStatement(s);
  checkField(pseudonym, "pseudonym");
  const r = ruleSignals(s.rule);
  const out = new Array<bigint>(CIRCUITS.attribute.publicSignals.length);
  out[ATTRIBUTE_SIGNALS.pseudonym] = pseudonym;
  out[ATTRIBUTE_SIGNALS.context] = s.context;
  out[ATTRIBUTE_SIGNALS.nullifierHash] = s.nullifierHash;
  out[ATTRIBUTE_SIGNALS.issuersRoot] = s.issuersRoot;
  out[ATTRIBUTE_SIGNALS.today] = BigInt(s.today);
  out[ATTRIBUTE_SIGNALS.minAge] = BigInt(r.minAge);
  out[ATTRIBUTE_SIGNALS.countryMode] = BigInt(r.countryMode);
  r.countryMask.forEach((w, i) => (out[ATTRIBUTE_SIGNALS.countryMask0 + i] = w));
  out[ATTRIBUTE_SIGNALS.requiredFlags] = r.requiredFlags;
  out[ATTRIBUTE_SIGNALS.serviceId] = s.serviceId;
  out[ATTRIBUTE_SIGNALS.epoch] = s.epoch;
  return out;
}

const str = (x: bigint | number) => x.toString();

/**
 * The attribute circuit's input signals (decimal strings), named as in
 * circuits/attribute.circom. Checks first, each with a typed error, so an unprovable
 * statement is never a failed proof:
 * - the credential's signature (`attribute_proof_invalid`);
 * - the holder key is the credential's holder (`attribute_proof_invalid`, "credential
 *   issued to another holder");
 * - the issuer is in the list (`issuer_not_trusted`) and the list's revocation root for it
 *   is the tree's (`attribute_proof_invalid`, "stale revocation list");
 * - the serial is not revoked (`credential_revoked`);
 * - the rule at `today` (`attribute_credential_expired`, `rule_not_met`);
 * - the note's nullifier is `statement.nullifierHash` (`attribute_proof_invalid`).
 *
 * @example
 * await snarkjs.wtns.calculate(await attributeWitness(input), wasm, wtns);
 */
export async function attributeWitness(i: AttributeProveInput): Promise<Record<string, string | string[]>> {
  const { credential: c, holder, statement: s, note } = i;
  checkStatement(s);
  if (!verifyCredentialSignature(c)) {
    throw new ZkPayError("attribute_proof_invalid", "the credential's issuer signature does not verify");
  }
  if (holder.publicKey[0] !== c.holder[0] || holder.publicKey[1] !== c.holder[1]) {
    throw new ZkPayError("attribute_proof_invalid", "credential issued to another holder");
  }
  const index = i.issuers.findIndex((t) => t.publicKey[0] === c.issuer[0] && t.publicKey[1] === c.issuer[1]);
  if (index < 0) {
    throw new ZkPayError("issuer_not_trusted", "the credential's issuer is not in the API's trusted-issuer list");
  }
  const revocationRoot = i.issuers[index]!.revocationRoot;
  if (i.revocation.root() !== revocationRoot) {
    throw new ZkPayError(
      "attribute_proof_invalid",
      "stale revocation list: the issuer's revocation tree is not the one the trusted-issuer list binds",
    );
  }
  const rev = await i.revocation.nonMembership(c.serial); // credential_revoked
  checkRule(c.claims, s.rule, s.today);
  for (const k of ["spendingKey", "value", "blinding", "treeIndex", "leafIndex"] as const) {
    checkField(note[k], `note.${k}`);
  }
  const commitment = commitmentOf({ value: note.value, owner: ownerKeyOf(note.spendingKey), blinding: note.blinding });
  // As payment.circom's step 6 (and nullifierHashOf, which takes positions as numbers).
  const nullifier = hash4(nullifyingKeyOf(note.spendingKey), commitment, note.treeIndex, note.leafIndex);
  if (nullifier !== s.nullifierHash) {
    throw new ZkPayError(
      "attribute_proof_invalid",
      "the note's nullifier is not the payment's nullifierHash (another note or spending key)",
    );
  }
  const path = issuerMembership(i.issuers, index);
  const r = ruleSignals(s.rule);
  if (rev.siblings.length !== REV_SMT_LEVELS || path.siblings.length !== ISSUER_DEPTH) {
    throw new Error("unreachable: path lengths differ from the circuit's");
  }
  return {
    context: str(s.context),
    nullifierHash: str(s.nullifierHash),
    issuersRoot: str(s.issuersRoot),
    today: str(s.today),
    minAge: str(r.minAge),
    countryMode: str(r.countryMode),
    countryMask: r.countryMask.map(str),
    requiredFlags: str(r.requiredFlags),
    serviceId: str(s.serviceId),
    epoch: str(s.epoch),
    Ax: str(c.issuer[0]),
    Ay: str(c.issuer[1]),
    R8x: str(c.signature.R8[0]),
    R8y: str(c.signature.R8[1]),
    S: str(c.signature.S),
    hk: str(holder.scalar),
    birthDate: str(c.claims.birthDate),
    country: str(c.claims.country),
    expiresAt: str(c.claims.expiresAt),
    flags: str(c.claims.flags),
    serial: str(c.serial),
    revocationRoot: str(revocationRoot),
    revSiblings: rev.siblings.map(str),
    revOldKey: str(rev.oldKey),
    revOldValue: str(rev.oldValue),
    revIsOld0: str(rev.isOld0),
    issuerIndex: str(path.index),
    issuerHasSibling: path.hasSibling.map(str),
    issuerSiblings: path.siblings.map(str),
    spendingKey: str(note.spendingKey),
    noteValue: str(note.value),
    noteBlinding: str(note.blinding),
    treeIndex: str(note.treeIndex),
    leafIndex: str(note.leafIndex),
  };
}

/** A proven attribute statement. */
export interface AttributeProofResult {
  /** The proof in snarkjs' JSON layout (what the payment's extension carries). */
  proof: Groth16Proof;
  /** The public signals in circuit order ({@link attributePublicSignals}). */
  publicSignalList: bigint[];
  /** The circuit's output, sent with the proof: the verifier needs it to rebuild the signals. */
  pseudonym: bigint;
  timings: { witnessMs: number; proveMs: number };
}

/**
 * Proves an attribute statement (the payer's side of Verify & Pay): the checks of
 * {@link attributeWitness}, the witness and a Groth16 proof, and the circuit's public
 * signals checked against {@link attributePublicSignals} (`proving_failed` if they differ).
 *
 * @example
 * const r = await proveAttribute(artifactsOf("attribute"), { credential, holder, issuers, revocation, note, statement });
 */
export async function proveAttribute(
  artifacts: CircuitArtifacts,
  i: AttributeProveInput,
  onProgress?: (p: ProofProgress) => void,
): Promise<AttributeProofResult> {
  const input = await attributeWitness(i);
  const pseudonym = pseudonymOf(i.holder.scalar, i.statement.serviceId, i.statement.epoch);
  const expected = attributePublicSignals(i.statement, pseudonym);
  const { proof, publicSignals, timings } = await proveGroth16(input, artifacts, onProgress ? { onProgress } : {});
  if (publicSignals.length !== expected.length || publicSignals.some((x, k) => x !== expected[k])) {
    throw new ZkPayError("proving_failed", "the attribute circuit's public signals differ from the reference");
  }
  return { proof: fromSolidityProof(proof), publicSignalList: publicSignals, pseudonym, timings };
}

/**
 * Verifies an attribute proof off chain (~5 ms, mcl-wasm; see {@link Groth16Verifier})
 * against public signals the verifier built itself ({@link attributePublicSignals}).
 * Never throws: a malformed proof, key or signal list is simply false.
 *
 * @example
 * if (!(await verifyAttributeProof(vkey, proof, attributePublicSignals(statement, pseudonym)))) refuse();
 */
export async function verifyAttributeProof(
  vkey: unknown,
  proof: Groth16Proof,
  publicSignals: readonly bigint[],
): Promise<boolean> {
  let verifier: Groth16Verifier;
  try {
    if (!Array.isArray(publicSignals) || publicSignals.length !== CIRCUITS.attribute.publicSignals.length) return false;
    if (publicSignals.some((x) => typeof x !== "bigint" || !isFieldElement(x))) return false;
    verifier = await Groth16Verifier.fromVkey(vkey);
  } catch {
    return false;
  }
  return verifier.verify(proof, publicSignals);
}

/**
 * Verify & Pay on the payer's side: choose an identity credential that meets a route's
 * `zk-attribute` rule (before anything is paid), then prove the rule for the very payment
 * being made (its nullifier and condition hash), for the payment payload's extension.
 *
 * Browser-safe: no Node imports (revocation lists are fetched with `fetch`).
 */
import { ZkPayError, isZkPayError } from "../../core/errors.js";
import { SNARK_SCALAR_FIELD } from "../../core/field.js";
import type { CircuitArtifacts } from "../../core/circuits/artifacts.js";
import { proveAttribute, type AttributeStatement } from "../../core/circuits/attribute.js";
import { toSolidityProof } from "../../core/circuits/proof.js";
import type { ProofProgress } from "../../core/prover.js";
import {
  issuerKeyFromString,
  issuerKeyToString,
  verifyCredentialSignature,
  type AttributeCredential,
  type HolderKey,
} from "../../core/identity/credential.js";
import {
  attributeProofToWire,
  ruleFromWire,
  type ZkAttributeInfo,
  type ZkAttributePaymentInfo,
} from "../../core/identity/extension.js";
import { issuersRootOf, type TrustedIssuer } from "../../core/identity/issuers.js";
import { RevocationTree, revocationListFromJson } from "../../core/identity/revocation.js";
import { checkRule } from "../../core/identity/rule.js";
import type { AttributeProofRequest, SpentNote } from "../types.js";

/** Where a payer's identity credentials and the attribute circuit come from. */
export interface ZkIdentityOptions {
  /** The credentials to prove with: a store (`FileAttributeCredentialStore` of 402zk/node) or a list. */
  credentials:
    | {
        /** The credentials the wallet holds (read before each payment to an attribute route). */
        list(): Promise<readonly AttributeCredential[]>;
      }
    | readonly AttributeCredential[];
  /** The attribute circuit's artifacts (Node: `attributeArtifacts()` of 402zk/node). */
  artifacts: CircuitArtifacts;
  /** The holder key the credentials were issued to (default: the wallet's `attributeHolderKey()`). */
  holder?: HolderKey;
  /**
   * The revocation list (JSON, as its issuer publishes it) of an issuer the 402 names with a
   * non-zero revocation root. Default: GET its `revocationUrl`.
   */
  revocationList?: (issuer: { key: string; revocationRoot: bigint; revocationUrl?: string }) => Promise<unknown>;
  /** Proving progress of the attribute proof. */
  onProgress?: (p: ProofProgress) => void;
}

/** A credential chosen for a requirement, with what its proof needs. */
export interface ChosenCredential {
  credential: AttributeCredential;
  issuers: TrustedIssuer[];
  revocation: RevocationTree;
}

/** The reasons a credential can fail a requirement, most telling first (the one reported when none passes). */
const PRIORITY = [
  "rule_not_met",
  "credential_revoked",
  "attribute_credential_expired",
  "issuer_not_trusted",
  "attribute_proof_invalid",
];

/**
 * Picks the first of `credentials` that meets `info` (a route's requirement): issued to
 * `holder`, validly signed, by an issuer the route trusts, not revoked in that issuer's
 * current list (fetched, and checked against the root the 402 names), and meeting the
 * rule today. Throws the most telling reason when none does: `rule_not_met`,
 * `credential_revoked`, `attribute_credential_expired`, `issuer_not_trusted`,
 * `attribute_proof_invalid`; `attribute_proof_required` when there is no credential.
 * Called before the payment is proven: nothing is paid for a request the rule refuses.
 *
 * @example
 * const chosen = await chooseAttributeCredential(info, await store.list(), wallet.attributeHolderKey(), identity);
 */
export async function chooseAttributeCredential(
  info: ZkAttributeInfo,
  credentials: readonly AttributeCredential[],
  holder: HolderKey,
  o: Pick<ZkIdentityOptions, "revocationList"> = {},
): Promise<ChosenCredential> {
  if (credentials.length === 0) {
    throw new ZkPayError(
      "attribute_proof_required",
      "this route requires an identity credential (zk-attribute) and the wallet holds none: get one from a trusted issuer (`402zk identity request`)",
    );
  }
  const issuers: TrustedIssuer[] = info.issuers.map((i) => ({
    publicKey: issuerKeyFromString(i.key),
    revocationRoot: BigInt(i.revocationRoot),
  }));
  if (issuersRootOf(issuers) !== BigInt(info.issuersRoot)) {
    throw new ZkPayError("attribute_proof_invalid", "the 402's issuer root does not match the issuers it lists");
  }
  const rule = ruleFromWire(info.rule);
  const failures: ZkPayError[] = [];
  // Every listed issuer's list is fetched (in parallel, cached), not only the one of the
  // credential tried: which list a payer fetches before paying would name its issuer.
  const trees = new Map<number, Promise<RevocationTree>>(
    info.issuers.map((issuer, i) => {
      const tree = revocationTreeOf(issuer, o);
      tree.catch(() => {}); // reported when that issuer's credential needs it
      return [i, tree] as const;
    }),
  );
  for (const credential of credentials) {
    try {
      if (credential.holder[0] !== holder.publicKey[0] || credential.holder[1] !== holder.publicKey[1]) {
        throw new ZkPayError("attribute_proof_invalid", "the credential was issued to another holder key");
      }
      if (!verifyCredentialSignature(credential)) {
        throw new ZkPayError("attribute_proof_invalid", "the credential's signature does not verify (altered?)");
      }
      const key = issuerKeyToString(credential.issuer);
      const index = info.issuers.findIndex((i) => i.key === key);
      if (index < 0) {
        throw new ZkPayError("issuer_not_trusted", `this route does not trust the credential's issuer ${key}`);
      }
      const revocation = await trees.get(index)!;
      if (revocation.has(BigInt(credential.serial))) {
        throw new ZkPayError("credential_revoked", `the issuer revoked this credential (serial ${credential.serial})`);
      }
      checkRule(credential.claims, rule, info.today);
      return { credential, issuers, revocation };
    } catch (err) {
      if (!isZkPayError(err)) throw err;
      failures.push(err);
    }
  }
  failures.sort((a, b) => rank(a) - rank(b));
  throw failures[0]!;
}

function rank(e: ZkPayError): number {
  const i = PRIORITY.indexOf(e.reason);
  return i < 0 ? PRIORITY.length : i;
}

/** Revocation trees already rebuilt, by issuer key and root (a list with a given root never changes). */
const TREES = new Map<string, Promise<RevocationTree>>();
const MAX_CACHED_TREES = 64;

/** True for a URL a payer may fetch a revocation list from: https, or http on the loopback interface. */
function fetchableListUrl(u: string): boolean {
  try {
    const url = new URL(u);
    if (url.protocol === "https:") return true;
    return url.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  } catch {
    return false;
  }
}

function revocationTreeOf(
  issuer: ZkAttributeInfo["issuers"][number],
  o: Pick<ZkIdentityOptions, "revocationList">,
): Promise<RevocationTree> {
  const key = `${issuer.key}:${issuer.revocationRoot}`;
  let tree = TREES.get(key);
  if (!tree) {
    tree = loadRevocationTree(issuer, o);
    // A failed fetch is not cached: the next payment tries again.
    tree.catch(() => TREES.delete(key));
    if (TREES.size >= MAX_CACHED_TREES) TREES.delete(TREES.keys().next().value!);
    TREES.set(key, tree);
  }
  return tree;
}

async function loadRevocationTree(
  issuer: ZkAttributeInfo["issuers"][number],
  o: Pick<ZkIdentityOptions, "revocationList">,
): Promise<RevocationTree> {
  const root = BigInt(issuer.revocationRoot);
  if (root === 0n) return RevocationTree.create();
  let raw: unknown;
  try {
    if (o.revocationList) {
      raw = await o.revocationList({ key: issuer.key, revocationRoot: root, revocationUrl: issuer.revocationUrl });
    } else {
      if (!issuer.revocationUrl) {
        throw new Error("the 402 names no revocationUrl; give the client `identity.revocationList`");
      }
      // The URL comes from the API: never let it point the payer at its own network.
      if (!fetchableListUrl(issuer.revocationUrl)) {
        throw new Error(`refusing to fetch ${issuer.revocationUrl}: https only (or http on loopback)`);
      }
      const res = await fetch(issuer.revocationUrl, { signal: AbortSignal.timeout(15_000) });
      if (!res.ok) throw new Error(`GET ${issuer.revocationUrl}: HTTP ${res.status}`);
      raw = await res.json();
    }
  } catch (err) {
    throw new ZkPayError(
      "attribute_proof_invalid",
      `cannot get the revocation list of issuer ${issuer.key}: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
  const list = await revocationListFromJson(raw);
  if (list.root !== root) {
    throw new ZkPayError(
      "attribute_proof_invalid",
      `issuer ${issuer.key}'s revocation list (root ${list.root}) is not the one the 402 names (${root}): retry shortly`,
    );
  }
  return RevocationTree.create(list.revoked);
}

/**
 * Proves `request`'s rule for the payment whose note `spent` is (called by `preparePayment`
 * with the wallet's own spending key), bound to `conditionHash` and that note's nullifier;
 * returns the payment's `zk-attribute` info: the requirement as proved (without the issuer
 * list, which its root stands for), the proof and the pseudonym.
 *
 * @example
 * const info = await proveAttributeForPayment(request, conditionHash, spent);
 */
export async function proveAttributeForPayment(
  request: AttributeProofRequest,
  conditionHash: string,
  spent: SpentNote,
): Promise<ZkAttributePaymentInfo> {
  const { info, chosen, holder } = request;
  const statement: AttributeStatement = {
    context: BigInt(conditionHash) % SNARK_SCALAR_FIELD,
    nullifierHash: spent.nullifierHash,
    issuersRoot: BigInt(info.issuersRoot),
    today: info.today,
    rule: ruleFromWire(info.rule),
    serviceId: BigInt(info.serviceId),
    epoch: BigInt(info.epoch),
  };
  const r = await proveAttribute(
    request.artifacts,
    {
      credential: chosen.credential,
      holder,
      issuers: chosen.issuers,
      revocation: chosen.revocation,
      note: {
        spendingKey: spent.spendingKey,
        value: spent.value,
        blinding: spent.blinding,
        treeIndex: spent.treeIndex,
        leafIndex: spent.leafIndex,
      },
      statement,
    },
    request.onProgress,
  );
  const { issuers: _issuers, maxPerEpoch: _max, ...proved } = info;
  return { ...proved, proof: attributeProofToWire(toSolidityProof(r.proof)), pseudonym: r.pseudonym.toString() };
}

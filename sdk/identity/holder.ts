/**
 * The holder side of attribute-credential issuance (Verify & Pay): the request a wallet
 * sends an identity issuer (its holder public key, the issuer's nonce and a proof of
 * possession of the holder key), and the check of the credential that comes back.
 * Browser-safe: no Node module.
 */
import { inCurve } from "@zk-kit/baby-jubjub";
import { z } from "zod";

import type { BabyJubPoint, EdDsaSignature } from "../core/eddsa.js";
import { ZkPayError } from "../core/errors.js";
import { SNARK_SCALAR_FIELD } from "../core/field.js";
import {
  credentialFromJson,
  isSubgroupPoint,
  issuerKeyFromString,
  issuerKeyToString,
  pointFromJson,
  pointToJson,
  signPossession,
  verifyCredentialSignature,
  type AttributeCredential,
  type HolderKey,
} from "../core/identity/credential.js";

/** Version tag of a {@link CredentialRequestJson}. */
export const CREDENTIAL_REQUEST_VERSION = "402zk-attr-request-v1";

const dec = z.string().regex(/^\d{1,78}$/, "a decimal integer");
const PointJsonSchema = z.object({ x: dec, y: dec }).strict();

/**
 * The JSON a holder sends an issuer to ask for a credential: its holder public key, the
 * nonce the issuer handed out, and a signature by the holder key over
 * `Poseidon(ATTR_POP_DOMAIN, issuerHash, nonce, Hx, Hy)` (proof of possession: only the
 * owner of a key can have a credential bound to it). Numbers are decimal strings, the
 * issuer key is in `issuerKeyToString` form. It holds no attribute: the issuer learns
 * the birth date and country out of band (its own identity check).
 */
export const CredentialRequestJsonSchema = z
  .object({
    version: z.literal(CREDENTIAL_REQUEST_VERSION),
    issuer: z.string().min(1).max(200),
    holder: PointJsonSchema,
    nonce: dec,
    possession: z.object({ R8: PointJsonSchema, S: dec }).strict(),
  })
  .strict();
/** The wire form of a credential request (see {@link CredentialRequestJsonSchema}). */
export type CredentialRequestJson = z.infer<typeof CredentialRequestJsonSchema>;

/** A parsed credential request: what `AttributeIssuer.issue` takes (plus the claims). */
export interface CredentialRequest {
  /** The issuer the request is addressed to (its nonce and proof of possession are for it alone). */
  issuer: BabyJubPoint;
  /** The holder public key the credential will be bound to. */
  holder: BabyJubPoint;
  /** The issuer's single-use nonce. */
  nonce: bigint;
  /** The holder key's signature over the possession message. */
  possession: EdDsaSignature;
}

/** An issuer key given as a point or in `issuerKeyToString` form. */
function issuerPoint(issuer: BabyJubPoint | string): BabyJubPoint {
  return typeof issuer === "string" ? issuerKeyFromString(issuer) : issuer;
}

/**
 * The request a holder sends to `issuer` to ask for a credential bound to `holder`,
 * answering the issuer's `nonce` (from `402zk issuer nonce` or its HTTP endpoint).
 *
 * @example
 * const holder = WalletKeys.fromSeed(seed).attributeHolderKey();
 * const req = credentialRequest(holder, "<issuer key string>", 1234n);
 * await fetch(issuerUrl, { method: "POST", body: JSON.stringify(req) });
 */
export function credentialRequest(
  holder: HolderKey,
  issuer: BabyJubPoint | string,
  nonce: bigint | string,
): CredentialRequestJson {
  const issuerKey = issuerPoint(issuer);
  const n = parseNonce(nonce);
  const sig = signPossession(holder, issuerKey, n);
  return {
    version: CREDENTIAL_REQUEST_VERSION,
    issuer: issuerKeyToString(issuerKey),
    holder: pointToJson(holder.publicKey),
    nonce: n.toString(),
    possession: { R8: pointToJson(sig.R8), S: sig.S.toString() },
  };
}

/**
 * A nonce as a field element: a bigint or a decimal (or 0x-hex) string; anything else is
 * `invalid_argument`.
 *
 * @example
 * parseNonce("1234"); // 1234n
 */
export function parseNonce(nonce: bigint | string): bigint {
  let n: bigint;
  if (typeof nonce === "bigint") n = nonce;
  else if (/^(\d{1,78}|0x[0-9a-fA-F]{1,64})$/.test(nonce.trim())) n = BigInt(nonce.trim());
  else throw new ZkPayError("invalid_argument", `nonce must be a decimal integer (got "${nonce.slice(0, 80)}")`);
  if (n < 0n || n >= SNARK_SCALAR_FIELD) throw new ZkPayError("invalid_argument", "nonce is not a field element");
  return n;
}

/**
 * Parses a credential request (the JSON a holder sent): shape, field elements and curve
 * points checked; a bad one is `invalid_argument` naming the problem. The proof of
 * possession is not checked here: the issuer checks it against its own key and nonce.
 *
 * @example
 * const req = parseCredentialRequest(JSON.parse(body));
 * const credential = await issuer.issue({ ...req, claims });
 */
export function parseCredentialRequest(json: unknown): CredentialRequest {
  const r = CredentialRequestJsonSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ZkPayError(
      "invalid_argument",
      `credential request: ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`,
    );
  }
  const j = r.data;
  const holder = pointFromJson(j.holder);
  const R8 = pointFromJson(j.possession.R8);
  // The holder key must be a subgroup point (the circuit's BabyPbk only makes those); R8 on the curve.
  if (!isSubgroupPoint(holder)) {
    throw new ZkPayError("invalid_argument", "credential request: holder is not a BabyJubJub subgroup point");
  }
  if (R8[0] >= SNARK_SCALAR_FIELD || R8[1] >= SNARK_SCALAR_FIELD || !inCurve([R8[0], R8[1]])) {
    throw new ZkPayError("invalid_argument", "credential request: possession.R8 is not a BabyJubJub point");
  }
  return {
    issuer: issuerKeyFromString(j.issuer),
    holder,
    nonce: parseNonce(j.nonce),
    possession: { R8, S: BigInt(j.possession.S) },
  };
}

const samePoint = (a: BabyJubPoint, b: BabyJubPoint) => a[0] === b[0] && a[1] === b[1];

/**
 * Checks a credential an issuer answered before the holder stores it: well-formed, signed
 * by its issuer (and by `expect.issuer` when given), and bound to this holder key. Throws
 * `attribute_proof_invalid` ("credential issued to another holder", "signature does not
 * verify", "issued by another issuer"), or `invalid_argument` for malformed JSON.
 *
 * @example
 * const credential = acceptCredential(holder, JSON.parse(await res.text()));
 * await store.add(credential);
 */
export function acceptCredential(
  holder: HolderKey,
  credentialJson: unknown,
  expect: { issuer?: BabyJubPoint | string } = {},
): AttributeCredential {
  const c = credentialFromJson(credentialJson);
  if (!verifyCredentialSignature(c)) {
    throw new ZkPayError("attribute_proof_invalid", "the credential's issuer signature does not verify");
  }
  if (expect.issuer !== undefined && !samePoint(c.issuer, issuerPoint(expect.issuer))) {
    throw new ZkPayError(
      "attribute_proof_invalid",
      `credential issued by another issuer (${issuerKeyToString(c.issuer)}, not ${issuerKeyToString(issuerPoint(expect.issuer))})`,
    );
  }
  if (!samePoint(c.holder, holder.publicKey)) {
    throw new ZkPayError(
      "attribute_proof_invalid",
      "credential issued to another holder (not this wallet's holder key)",
    );
  }
  return c;
}

/** Options of {@link obtainCredential}. */
export interface ObtainCredentialOptions {
  /** The issuer key the holder expects (a point or its 43-character string); default: whatever the endpoint names. */
  issuer?: BabyJubPoint | string;
  /** Headers sent with both requests (the provider's login: a cookie, a bearer token). */
  headers?: Record<string, string>;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Per request, ms (default 15,000). */
  timeoutMs?: number;
}

/**
 * Asks an issuer's HTTP endpoint (`AttributeIssuer.serveIssuance`, mounted at `url`) for a
 * credential bound to `holder`: GET `<url>/nonce`, sign the request with the holder key,
 * POST it to `<url>/credentials`, then check the answer as {@link acceptCredential} does
 * (signed by the expected issuer, bound to this holder) before returning it for the
 * wallet's store. Throws `issuance_refused` naming the HTTP status and the issuer's message
 * (a refusal, a bad answer, an issuer that does not answer), `attribute_proof_invalid` for
 * a credential that fails the holder's checks, `invalid_argument` for a bad URL.
 *
 * @example
 * const credential = await obtainCredential("https://idp.example/id", wallet.attributeHolderKey(), {
 *   headers: { authorization: `Bearer ${token}` },
 * });
 * await new FileAttributeCredentialStore(walletDir).add(credential);
 */
export async function obtainCredential(
  url: string,
  holder: HolderKey,
  o: ObtainCredentialOptions = {},
): Promise<AttributeCredential> {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new ZkPayError("invalid_argument", `the issuer URL is not a URL: "${url.slice(0, 200)}"`);
  }
  if (base.protocol !== "https:" && base.protocol !== "http:") {
    throw new ZkPayError("invalid_argument", `the issuer URL must be http(s), got ${base.protocol}`);
  }
  const at = (p: string) => `${base.href.replace(/\/+$/, "")}${p}`;
  const call = async (p: string, init: RequestInit): Promise<unknown> => {
    let res: Response;
    try {
      res = await (o.fetch ?? fetch)(at(p), {
        ...init,
        headers: { accept: "application/json", ...o.headers, ...(init.headers as Record<string, string>) },
        signal: AbortSignal.timeout(o.timeoutMs ?? 15_000),
      });
    } catch (err) {
      throw new ZkPayError(
        "issuance_refused",
        `the issuer at ${at(p)} did not answer: ${(err as Error).message}`,
        {},
        { cause: err },
      );
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const m = (body as { message?: unknown } | undefined)?.message;
      throw new ZkPayError(
        "issuance_refused",
        `the issuer refused (${init.method ?? "GET"} ${at(p)}: HTTP ${res.status})${typeof m === "string" ? `: ${m.slice(0, 300)}` : ""}`,
        { status: res.status },
      );
    }
    if (body === undefined) throw new ZkPayError("issuance_refused", `the issuer's answer at ${at(p)} is not JSON`);
    return body;
  };
  const offer = (await call("/nonce", { method: "GET" })) as { issuer?: unknown; nonce?: unknown };
  if (typeof offer.issuer !== "string" || typeof offer.nonce !== "string") {
    throw new ZkPayError("issuance_refused", `the issuer's nonce answer at ${at("/nonce")} is not { issuer, nonce }`);
  }
  const issuer = issuerKeyFromString(offer.issuer);
  if (o.issuer !== undefined && !samePoint(issuer, issuerPoint(o.issuer))) {
    throw new ZkPayError(
      "attribute_proof_invalid",
      `the endpoint speaks for issuer ${offer.issuer}, not the expected ${issuerKeyToString(issuerPoint(o.issuer))}`,
    );
  }
  const request = credentialRequest(holder, issuer, offer.nonce);
  const credential = await call("/credentials", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  });
  return acceptCredential(holder, credential, { issuer });
}

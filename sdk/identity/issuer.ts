/**
 * An identity provider's side of attribute credentials (Verify & Pay), in a directory:
 * its EdDSA-Poseidon key, the nonces it handed out, the serials it issued and the ones it
 * revoked. Node only (files); the holder side (holder.ts) is browser-safe.
 */
import { randomBytes } from "node:crypto";
import { link, mkdir, open, readFile, rm, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";

import { bytesToHex, hexToBytes, type Hex } from "viem";
import { z } from "zod";

import { EdDsaPoseidonKey, type BabyJubPoint, type EdDsaSignature } from "../core/eddsa.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import { REV_DEPTH } from "../core/identity/constants.js";
import {
  checkClaims,
  credentialToJson,
  issuerKeyToString,
  pointToJson,
  signCredential,
  verifyPossession,
  type AttributeClaims,
  type AttributeCredential,
} from "../core/identity/credential.js";
import {
  RevocationTree,
  revocationListToJson,
  signRevocationList,
  type RevocationList,
} from "../core/identity/revocation.js";
import { ymdOf } from "../core/identity/rule.js";
import { lockDirectory } from "../node/dir-lock.js";
import { readJsonState, writeFileAtomic } from "../node/file-store.js";
import { readJsonRequestBody } from "../node/http-body.js";
import { parseCredentialRequest, type CredentialRequest } from "./holder.js";

/** The issuer's private key file in its directory (mode 0600). */
export const ISSUER_KEY_FILE = "issuer-key.json";
/** The issuer's books in its directory: next serial, outstanding nonces, issued and revoked serials. */
export const ISSUER_STATE_FILE = "issuer-state.json";
/** Version tag of the issuer key file. */
export const ISSUER_KEY_VERSION = "402zk-attr-issuer-key-v1";

const dec = z.string().regex(/^\d{1,78}$/);
const PointJson = z.object({ x: dec, y: dec });

const IssuerKeyFileSchema = z.object({
  version: z.literal(ISSUER_KEY_VERSION),
  privateKey: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
  publicKey: z.string(),
});

/** The paths {@link AttributeIssuer.serveIssuance} answers, below the prefix it is mounted at. */
export const ISSUANCE_PATHS = { nonce: "/nonce", credentials: "/credentials" } as const;

/** What {@link AttributeIssuer.serveIssuance} asks of the identity provider's own code. */
export interface IssuanceOptions {
  /**
   * The claims to sign for this HTTP request and holder key, from the provider's own
   * checks (its login session, the identity check it ran for that account); `undefined`
   * refuses with 403. Called only for a well-formed request whose proof of possession
   * verifies for this issuer; a throw is answered 500 without its message.
   */
  claimsFor(
    req: IncomingMessage,
    request: CredentialRequest,
  ): Promise<AttributeClaims | undefined> | AttributeClaims | undefined;
  /** Largest request body in bytes (default 4,096; a request is ~700). */
  maxBodyBytes?: number;
}

/** What the issuer records of a credential it issued: never its attributes (data minimisation). */
export interface IssuedCredentialRecord {
  serial: number;
  /** The holder public key the credential is bound to (to find the serial to revoke). */
  holder: BabyJubPoint;
  /** YYYYMMDD: after it the credential proves nothing, so its serial needs no revocation then. */
  expiresAt: number;
  /** Unix seconds. */
  issuedAt: number;
}

const IssuerStateSchema = z.object({
  v: z.literal(1),
  /** The serial the next credential gets; saved before it is signed, so a crash never reuses one. */
  nextSerial: z.number().int().min(1),
  /** Nonces handed out and not used yet, with when they lapse (unix seconds). */
  nonces: z.array(z.object({ nonce: dec, expiresAt: z.number().int() })),
  issued: z.array(
    z.object({
      serial: z.number().int().nonnegative(),
      holder: PointJson,
      expiresAt: z.number().int(),
      issuedAt: z.number().int(),
    }),
  ),
  revoked: z.array(z.number().int().nonnegative()),
  /** When the revoked set last changed (unix milliseconds, as RevocationList.updatedAt; 0 before any revocation). */
  revocationUpdatedAt: z.number().int().nonnegative(),
});
type IssuerState = z.infer<typeof IssuerStateSchema>;

function parseIssuerState(raw: unknown): IssuerState {
  const r = IssuerStateSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ZkPayError(
      "note_store_corrupt",
      `issuer state: ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`,
    );
  }
  return r.data;
}

const emptyState = (): IssuerState => ({
  v: 1,
  nextSerial: 1,
  nonces: [],
  issued: [],
  revoked: [],
  revocationUpdatedAt: 0,
});

/** Options of {@link AttributeIssuer.open} and {@link AttributeIssuer.init}. */
export interface AttributeIssuerOptions {
  /** How long a nonce from `newNonce` stays usable (seconds). Default 7 days: the file flow is slow. */
  nonceTtlSeconds?: number;
  /** Most outstanding nonces kept; the oldest are dropped beyond it. Default 10 000. */
  maxOutstandingNonces?: number;
  /** How long a change waits for another process changing the same directory (ms). Default 30 s. */
  lockTimeoutMs?: number;
  /** The clock (unix milliseconds). Default `Date.now`. */
  now?: () => number;
}

/** What `issue` takes: the holder's request (parsed) and the attributes the issuer vouches for. */
export interface IssueInput {
  holder: BabyJubPoint;
  nonce: bigint;
  possession: EdDsaSignature;
  claims: AttributeClaims;
}

const samePoint = (a: BabyJubPoint, b: BabyJubPoint) => a[0] === b[0] && a[1] === b[1];

/**
 * Writes `text` to `file` atomically and only if `file` does not exist: a temporary file
 * (mode 0600, fsynced) hard-linked to its name (link fails if the name is taken, so two
 * `init`s never overwrite each other's key), then the directory is fsynced.
 */
async function createFileAtomic(file: string, text: string): Promise<boolean> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
  const dh = await open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
  return true;
}

/**
 * An identity issuer (KYC provider, registry): signs attribute credentials (birth date,
 * country, expiry, flags) bound to a holder key, and publishes which serials it revoked.
 * Its directory holds `issuer-key.json` (the 32-byte private key, mode 0600: back it up,
 * keep it offline) and `issuer-state.json` (its books). Every change re-reads the books
 * under a lock on the directory and replaces them atomically, so two processes never hand
 * out the same serial and a crash leaves the old or the new books.
 *
 * Issuance is a two-step exchange with proof of possession: the issuer hands out a single-use
 * nonce ({@link newNonce}); the holder answers with a request signed by its holder key
 * (`credentialRequest` in holder.ts); {@link issue} checks nonce and signature, so a
 * credential is only ever bound to a key whose owner asked for it.
 *
 * Data minimisation: the books keep serial, holder key, expiry and issue time of each
 * credential, never its birth date, country or flags (the issuer checked those out of band
 * and need not keep them to revoke).
 *
 * @example
 * const issuer = await AttributeIssuer.init("./issuer");          // once
 * const nonce = await issuer.newNonce();                           // to the holder
 * const req = parseCredentialRequest(holderRequestJson);           // from the holder
 * const credential = await issuer.issue({ ...req, claims: { birthDate: 20000131, country: 276, expiresAt: 20300101, flags: 0n } });
 * await issuer.revoke(credential.serial);
 * const list = await issuer.revocationList();                     // publish revocationListToJson(list)
 */
export class AttributeIssuer {
  /** The directory holding the key and the books. */
  readonly dir: string;
  /** The issuer public key (A = (Ax, Ay)): what a paid API lists among its trusted issuers. */
  readonly publicKey: BabyJubPoint;
  /** The public key in `issuerKeyToString` form (what `402zk issuer init` prints). */
  readonly publicKeyString: string;
  readonly #privateKey: Uint8Array;
  readonly #o: Required<AttributeIssuerOptions>;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, privateKey: Uint8Array, o: AttributeIssuerOptions) {
    this.dir = dir;
    this.#privateKey = privateKey;
    // The EdDSA-Poseidon public key of these 32 bytes (the key signCredential signs with).
    this.publicKey = EdDsaPoseidonKey.fromSecret(bytesToHex(privateKey)).publicKey;
    this.publicKeyString = issuerKeyToString(this.publicKey);
    this.#o = {
      nonceTtlSeconds: o.nonceTtlSeconds ?? 7 * 24 * 3600,
      maxOutstandingNonces: o.maxOutstandingNonces ?? 10_000,
      lockTimeoutMs: o.lockTimeoutMs ?? 30_000,
      now: o.now ?? Date.now,
    };
  }

  /**
   * Creates an issuer in `dir` (made if missing): a fresh random private key in
   * `issuer-key.json` (mode 0600) and empty books. Refuses (`invalid_argument`) when `dir`
   * already holds a key: an issuer key is never overwritten.
   *
   * @example
   * const issuer = await AttributeIssuer.init("./issuer");
   * console.log(issuer.publicKeyString);
   */
  static async init(dir: string, o: AttributeIssuerOptions = {}): Promise<AttributeIssuer> {
    const abs = path.resolve(dir);
    await mkdir(abs, { recursive: true, mode: 0o700 });
    const privateKey = new Uint8Array(randomBytes(32));
    const issuer = new AttributeIssuer(abs, privateKey, o);
    const keyFile = path.join(abs, ISSUER_KEY_FILE);
    const body = {
      version: ISSUER_KEY_VERSION,
      privateKey: bytesToHex(privateKey),
      publicKey: issuer.publicKeyString,
    };
    if (!(await createFileAtomic(keyFile, `${JSON.stringify(body, null, 2)}\n`))) {
      throw new ZkPayError("invalid_argument", `${keyFile} already exists: an issuer key is never overwritten`, {
        file: keyFile,
      });
    }
    // Books of an earlier issuer in the same folder would belong to another key: start empty.
    await writeFileAtomic(path.join(abs, ISSUER_STATE_FILE), [JSON.stringify(emptyState(), null, 2)]);
    return issuer;
  }

  /**
   * Opens the issuer in `dir` (made by {@link init}). A missing or malformed key file is
   * `invalid_argument` naming it; a key file readable by others is refused too.
   *
   * @example
   * const issuer = await AttributeIssuer.open("./issuer");
   */
  static async open(dir: string, o: AttributeIssuerOptions = {}): Promise<AttributeIssuer> {
    const abs = path.resolve(dir);
    const keyFile = path.join(abs, ISSUER_KEY_FILE);
    let text: string;
    try {
      text = await readFile(keyFile, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new ZkPayError(
          "invalid_argument",
          `${abs} holds no issuer key (${ISSUER_KEY_FILE}); create one with 402zk issuer init --dir ${dir}`,
          { file: keyFile },
          { cause: err },
        );
      }
      throw err;
    }
    let parsed: z.infer<typeof IssuerKeyFileSchema>;
    try {
      parsed = IssuerKeyFileSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new ZkPayError(
        "invalid_argument",
        `${keyFile} is not an issuer key file`,
        { file: keyFile },
        { cause: err },
      );
    }
    if (process.platform !== "win32" && ((await stat(keyFile)).mode & 0o077) !== 0) {
      throw new ZkPayError(
        "invalid_argument",
        `${keyFile} is readable by other users: run chmod 600 ${keyFile} (it holds the issuer's private key)`,
        { file: keyFile },
      );
    }
    const issuer = new AttributeIssuer(abs, hexToBytes(parsed.privateKey as Hex), o);
    if (issuer.publicKeyString !== parsed.publicKey) {
      throw new ZkPayError(
        "invalid_argument",
        `${keyFile}: its publicKey does not match its privateKey (damaged file?)`,
        { file: keyFile },
      );
    }
    return issuer;
  }

  /**
   * A fresh random nonce (248 random bits, a field element) for one credential request,
   * recorded as outstanding: {@link issue} accepts it once, within `nonceTtlSeconds`.
   *
   * @example
   * const nonce = await issuer.newNonce(); // hand it to the holder
   */
  async newNonce(): Promise<bigint> {
    // 31 bytes: below the field modulus without reduction, so every value is equally likely.
    const nonce = BigInt(bytesToHex(new Uint8Array(randomBytes(31))));
    await this.#change((s, nowS) => {
      s.nonces.push({ nonce: nonce.toString(), expiresAt: nowS + this.#o.nonceTtlSeconds });
      return true;
    });
    return nonce;
  }

  /**
   * Issues a credential to `holder` for `claims`, answering one of this issuer's nonces:
   * - the nonce must be outstanding (handed out by {@link newNonce}, unused, not lapsed),
   *   else `invalid_argument` "nonce ... is not outstanding"; it is used up by this call;
   * - `possession` must be the holder key's signature over the possession message for this
   *   issuer and nonce, else `invalid_argument` "proof of possession ...";
   * - `claims` must be valid (`checkClaims`) and not already expired;
   * - the next serial is written to the books (with the nonce used up and the issued record)
   *   BEFORE the credential is signed, so a crash may waste a serial, never reuse one.
   * A refused request changes nothing (its nonce stays usable).
   *
   * @example
   * const credential = await issuer.issue({ ...parseCredentialRequest(json), claims });
   * res.end(JSON.stringify(credentialToJson(credential)));
   */
  async issue(input: IssueInput | (CredentialRequest & { claims: AttributeClaims })): Promise<AttributeCredential> {
    const { holder, nonce, possession, claims } = input;
    if ("issuer" in input && !samePoint(input.issuer, this.publicKey)) {
      throw new ZkPayError(
        "invalid_argument",
        `the credential request is addressed to issuer ${issuerKeyToString(input.issuer)}, not this one (${this.publicKeyString})`,
      );
    }
    checkClaims(claims);
    let serial = 0;
    await this.#change((s, nowS) => {
      const i = s.nonces.findIndex((n) => n.nonce === nonce.toString() && n.expiresAt >= nowS);
      if (i < 0) {
        throw new ZkPayError(
          "invalid_argument",
          `nonce ${nonce} is not outstanding at this issuer (never handed out, lapsed or already used): ask for a fresh one`,
        );
      }
      if (!verifyPossession(this.publicKey, nonce, holder, possession)) {
        throw new ZkPayError(
          "invalid_argument",
          "proof of possession does not verify: the request must be signed by the holder key, for this issuer and nonce",
        );
      }
      const today = ymdOf(new Date(nowS * 1000));
      if (claims.expiresAt < today) {
        throw new ZkPayError("invalid_argument", `expiresAt ${claims.expiresAt} is before today (${today})`);
      }
      if (s.nextSerial >= 2 ** REV_DEPTH) {
        throw new ZkPayError(
          "invalid_argument",
          `this issuer has used all ${2 ** REV_DEPTH - 1} serials (a serial is < 2^${REV_DEPTH}): start a new issuer key`,
        );
      }
      serial = s.nextSerial;
      s.nextSerial += 1;
      s.nonces.splice(i, 1);
      s.issued.push({ serial, holder: pointToJson(holder), expiresAt: claims.expiresAt, issuedAt: nowS });
      return true;
    });
    return signCredential(this.#privateKey, holder, claims, serial);
  }

  /**
   * Revokes the credential with `serial`: adds it to the revocation tree and saves the
   * list (what {@link revocationList} publishes). Revoking a revoked serial again changes
   * nothing; a serial this issuer never issued is `invalid_argument`. Resolves whether
   * this call revoked it (false when it already was).
   *
   * @example
   * await issuer.revoke(7);
   * await writeFile("revocations.json", JSON.stringify(revocationListToJson(await issuer.revocationList())));
   */
  async revoke(serial: number): Promise<boolean> {
    if (!Number.isSafeInteger(serial) || serial < 0) {
      throw new ZkPayError("invalid_argument", `serial must be a non-negative integer (got ${serial})`);
    }
    return this.#change(async (s, _nowS, nowMs) => {
      if (!s.issued.some((r) => r.serial === serial)) {
        throw new ZkPayError("invalid_argument", `serial ${serial} was never issued by this issuer`, { serial });
      }
      if (s.revoked.includes(serial)) return false;
      // Through the tree, so a serial the tree refuses (out of range) is never published.
      const tree = await RevocationTree.create(s.revoked);
      await tree.add(serial);
      s.revoked.push(serial);
      s.revocationUpdatedAt = nowMs;
      return true;
    });
  }

  /**
   * The revocation list to publish: this issuer's key, the root of the sparse Merkle tree
   * of revoked serials (0 when none), the serials, when they last changed (unix ms; 0 if
   * never), and this issuer's signature over root and time (so mirrors cannot alter it).
   * Its JSON form is `revocationListToJson(list)`; a paid API puts the root into its
   * trusted-issuer set.
   *
   * @example
   * const list = await issuer.revocationList();
   * list.root; // equals (await RevocationTree.create(list.revoked)).root()
   */
  async revocationList(): Promise<RevocationList> {
    const s = await this.#read();
    return signRevocationList(this.#privateKey, { revoked: s.revoked, updatedAt: s.revocationUpdatedAt });
  }

  /**
   * What the books hold about each credential issued (serial, holder key, expiry, issue
   * time; no attribute), in serial order.
   *
   * @example
   * const mine = (await issuer.issued()).filter((r) => r.holder[0] === holderKey[0]);
   */
  async issued(): Promise<IssuedCredentialRecord[]> {
    const s = await this.#read();
    return s.issued
      .map((r) => ({
        serial: r.serial,
        holder: [BigInt(r.holder.x), BigInt(r.holder.y)] as BabyJubPoint,
        expiresAt: r.expiresAt,
        issuedAt: r.issuedAt,
      }))
      .sort((a, b) => a.serial - b.serial);
  }

  /**
   * A `node:http` request handler that publishes the revocation list as JSON (GET or HEAD;
   * 405 otherwise), read afresh on every request so a revocation by another process shows
   * at once. Mount it where the paid APIs that trust this issuer fetch the list.
   *
   * @example
   * http.createServer(issuer.serveRevocationList()).listen(8080);
   */
  serveRevocationList(): (req: IncomingMessage, res: ServerResponse) => void {
    return (req, res) => {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      this.revocationList().then(
        (list) => {
          const body = JSON.stringify(revocationListToJson(list));
          res.writeHead(200, {
            "content-type": "application/json",
            // Short: a revocation must reach the verifiers soon.
            "cache-control": "public, max-age=60",
          });
          res.end(req.method === "HEAD" ? undefined : body);
        },
        () => {
          res.writeHead(500, { "content-type": "application/json" }).end('{"error":"revocation list unavailable"}');
        },
      );
    };
  }

  /**
   * A `node:http` request handler for issuance over HTTP, the two steps of the CLI's file
   * flow (JSON in and out; mount it under any prefix, behind the provider's own login):
   * - `GET <prefix>/nonce` answers `{ issuer, nonce }`: a fresh single-use nonce;
   * - `POST <prefix>/credentials` takes the holder's credential request
   *   (`credentialRequest(holder, issuer, nonce)`), checks its shape and proof of
   *   possession, asks `claimsFor` what to sign, then issues ({@link issue}: the nonce is
   *   used up, the serial written before signing) and answers the credential's JSON.
   * Refusals are JSON `{ error, message }`: 400 for a malformed or unverifiable request or
   * a nonce that is not outstanding, 403 when `claimsFor` refuses, 404/405 elsewhere, 413
   * for a body over `maxBodyBytes`. The holder side is `obtainCredential` (402zk/identity)
   * or `402zk identity obtain <url>`. Put both paths behind the provider's login: every
   * nonce is written to the books, which keep the newest `maxOutstandingNonces`, so an
   * anonymous flood of nonce requests would push out the nonces real holders are using.
   *
   * @example
   * const issue = issuer.serveIssuance({ claimsFor: (req) => claimsOfLoggedInUser(req) });
   * http.createServer((req, res) => (req.url?.startsWith("/id/") ? issue(req, res) : app(req, res)));
   */
  serveIssuance(o: IssuanceOptions): (req: IncomingMessage, res: ServerResponse) => void {
    const maxBody = o.maxBodyBytes ?? 4096;
    const send = (res: ServerResponse, status: number, body: unknown) => {
      if (res.headersSent) return;
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(body));
    };
    const refuse = (res: ServerResponse, status: number, error: string, message: string) =>
      send(res, status, { error, message });
    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const pathname = new URL(req.url ?? "/", "http://issuer.invalid").pathname.replace(/\/+$/, "");
      if (pathname.endsWith(ISSUANCE_PATHS.nonce)) {
        if (req.method !== "GET") return refuse(res, 405, "method_not_allowed", "GET the nonce");
        return send(res, 200, { issuer: this.publicKeyString, nonce: (await this.newNonce()).toString() });
      }
      if (!pathname.endsWith(ISSUANCE_PATHS.credentials)) {
        return refuse(
          res,
          404,
          "not_found",
          `issuance answers ${ISSUANCE_PATHS.nonce} and ${ISSUANCE_PATHS.credentials}`,
        );
      }
      if (req.method !== "POST") return refuse(res, 405, "method_not_allowed", "POST the credential request");
      let request: CredentialRequest;
      try {
        request = parseCredentialRequest(await readJsonRequestBody(req, maxBody));
      } catch (err) {
        if (isZkPayError(err, "body_too_large")) return refuse(res, 413, "body_too_large", err.message);
        return refuse(res, 400, "invalid_argument", isZkPayError(err) ? err.message : "the body is not JSON");
      }
      if (!samePoint(request.issuer, this.publicKey)) {
        return refuse(
          res,
          400,
          "invalid_argument",
          `the request is addressed to another issuer, not ${this.publicKeyString}`,
        );
      }
      // Before the provider's callback: a request its holder key did not sign is no one's.
      if (!verifyPossession(this.publicKey, request.nonce, request.holder, request.possession)) {
        return refuse(
          res,
          400,
          "invalid_argument",
          "proof of possession does not verify: the request must be signed by the holder key, for this issuer and nonce",
        );
      }
      const claims = await o.claimsFor(req, request);
      if (claims === undefined) {
        return refuse(res, 403, "issuance_refused", "this issuer does not issue a credential for this request");
      }
      try {
        send(res, 200, credentialToJson(await this.issue({ ...request, claims })));
      } catch (err) {
        if (!isZkPayError(err, "invalid_argument")) throw err;
        refuse(res, 400, "invalid_argument", err.message);
      }
    };
    return (req, res) => {
      handle(req, res).catch(() => refuse(res, 500, "internal_error", "issuance failed"));
    };
  }

  // ---------------------------------------------------------------- books

  #stateFile(): string {
    return path.join(this.dir, ISSUER_STATE_FILE);
  }

  async #read(): Promise<IssuerState> {
    return (await readJsonState(this.#stateFile(), parseIssuerState)) ?? emptyState();
  }

  /**
   * Runs `change` on the books under the directory lock (serialised within the process
   * too), re-reading them first so another process's change is never lost, and saves them
   * atomically when it returns true. A throw saves nothing. Lapsed nonces are pruned.
   */
  #change<T extends boolean>(change: (s: IssuerState, nowS: number, nowMs: number) => T | Promise<T>): Promise<T> {
    const next = this.#queue.then(async () => {
      let lock;
      try {
        lock = await lockDirectory(this.dir, { timeoutMs: this.#o.lockTimeoutMs });
      } catch (err) {
        if (isZkPayError(err, "wallet_locked")) {
          throw new ZkPayError(
            "wallet_locked",
            `the issuer directory ${this.dir} is in use by another process; waited ${Math.round(this.#o.lockTimeoutMs / 1000)} s`,
            err.details,
            { cause: err },
          );
        }
        throw err;
      }
      try {
        const s = await this.#read();
        const nowMs = this.#o.now();
        const nowS = Math.floor(nowMs / 1000);
        const before = s.nonces.length;
        s.nonces = s.nonces.filter((n) => n.expiresAt >= nowS).slice(-this.#o.maxOutstandingNonces);
        const changed = await change(s, nowS, nowMs);
        if (changed || s.nonces.length !== before) {
          await writeFileAtomic(this.#stateFile(), [JSON.stringify(s, null, 2)]);
        }
        return changed;
      } finally {
        lock.release();
      }
    });
    this.#queue = next.catch(() => {});
    return next;
  }
}

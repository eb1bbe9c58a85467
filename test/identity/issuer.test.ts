/**
 * Identity issuers and holders (Verify & Pay, #21): issuance with proof of possession,
 * serials that never repeat (across reopen and between two instances), revocation lists
 * whose root is the revocation tree's, and the holder's credential store (crash-safe).
 * Real keys and signatures (@zk-kit/eddsa-poseidon), real files, real HTTP on 127.0.0.1.
 */
import { once } from "node:events";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { isZkPayError } from "../../sdk/core/errors.js";
import {
  credentialToJson,
  verifyCredentialSignature,
  type AttributeClaims,
} from "../../sdk/core/identity/credential.js";
import { RevocationTree, revocationListFromJson, revocationListToJson } from "../../sdk/core/identity/revocation.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import {
  AttributeIssuer,
  FileAttributeCredentialStore,
  ISSUER_KEY_FILE,
  ISSUER_STATE_FILE,
  MemoryAttributeCredentialStore,
  acceptCredential,
  credentialRequest,
  obtainCredential,
  parseCredentialRequest,
  type AttributeCredentialStore,
} from "../../sdk/identity/index.js";
import { revocationRootOf } from "../helpers/smt-reference.js";

const CLAIMS: AttributeClaims = { birthDate: 20000131, country: 276, expiresAt: 20400101, flags: 5n };
const holderA = WalletKeys.fromSeed(`0x${"11".repeat(32)}`).attributeHolderKey();
const holderB = WalletKeys.fromSeed(`0x${"22".repeat(32)}`).attributeHolderKey();

/** Awaits `p` and returns the ZkPayError it rejects with (fails if it resolves or throws something else). */
async function refusal(p: Promise<unknown>, reason: string, message: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(isZkPayError(err), String(err)).to.equal(true);
    expect((err as { reason: string }).reason, String(err)).to.equal(reason);
    expect((err as Error).message).to.match(message);
    return;
  }
  expect.fail(`expected ${reason} ${message}`);
}

describe("identity: issuers and holders of attribute credentials", function () {
  let work: string;
  let n = 0;
  const dir = () => path.join(work, `issuer-${++n}`);

  before(function () {
    work = mkdtempSync(path.join(os.tmpdir(), "402zk-identity-"));
  });
  after(function () {
    rmSync(work, { recursive: true, force: true });
  });

  /** One request of `holder` answering a fresh nonce of `issuer`, parsed as the issuer reads it. */
  async function request(issuer: AttributeIssuer, holder = holderA) {
    const nonce = await issuer.newNonce();
    const json = JSON.parse(JSON.stringify(credentialRequest(holder, issuer.publicKeyString, nonce))) as unknown;
    return parseCredentialRequest(json);
  }

  it("the wallet's holder key is derived from its seed: the same after a restore, another for another seed", function () {
    const again = WalletKeys.fromSeed(`0x${"11".repeat(32)}`).attributeHolderKey();
    expect(again.publicKey).to.deep.equal(holderA.publicKey);
    expect(again.scalar).to.equal(holderA.scalar);
    expect(holderB.publicKey).not.to.deep.equal(holderA.publicKey);
    // Not any other key of the wallet.
    expect(holderA.scalar).not.to.equal(WalletKeys.fromSeed(`0x${"11".repeat(32)}`).spendingKey());
  });

  it("issues: init (key 0600, never overwritten), nonce, request with proof of possession, credential the holder accepts", async function () {
    const d = dir();
    const issuer = await AttributeIssuer.init(d);
    if (process.platform !== "win32") expect(statSync(path.join(d, ISSUER_KEY_FILE)).mode & 0o777).to.equal(0o600);
    await refusal(AttributeIssuer.init(d), "invalid_argument", /already exists/);
    const reopened = await AttributeIssuer.open(d);
    expect(reopened.publicKeyString).to.equal(issuer.publicKeyString);
    expect(reopened.publicKey).to.deep.equal(issuer.publicKey);

    const credential = await issuer.issue({ ...(await request(issuer)), claims: CLAIMS });
    expect(credential.serial).to.equal(1);
    expect(credential.issuer).to.deep.equal(issuer.publicKey);
    expect(credential.holder).to.deep.equal(holderA.publicKey);
    expect(credential.claims).to.deep.equal(CLAIMS);
    expect(verifyCredentialSignature(credential)).to.equal(true);

    const accepted = acceptCredential(holderA, JSON.parse(JSON.stringify(credentialToJson(credential))), {
      issuer: issuer.publicKeyString,
    });
    expect(accepted).to.deep.equal(credential);

    // Data minimisation: the books name serial, holder and expiry, never the attributes.
    const books = readFileSync(path.join(d, ISSUER_STATE_FILE), "utf8");
    expect(books).to.include('"serial": 1').and.include(String(CLAIMS.expiresAt));
    expect(books).not.to.include(String(CLAIMS.birthDate));
    expect(books).not.to.match(/birth|country|flags/i);
    expect(await issuer.issued()).to.deep.equal([
      {
        serial: 1,
        holder: holderA.publicKey,
        expiresAt: CLAIMS.expiresAt,
        issuedAt: (await issuer.issued())[0]!.issuedAt,
      },
    ]);
  });

  it("refuses a request whose nonce was never handed out, is used up, has lapsed, or whose possession proof is another key's", async function () {
    let clock = Date.UTC(2030, 0, 1);
    const issuer = await AttributeIssuer.init(dir(), { nonceTtlSeconds: 60, now: () => clock });
    const req = await request(issuer);

    // A nonce the issuer never handed out (signed correctly for it).
    const unknown = parseCredentialRequest(credentialRequest(holderA, issuer.publicKey, req.nonce + 1n));
    await refusal(issuer.issue({ ...unknown, claims: CLAIMS }), "invalid_argument", /nonce .* is not outstanding/);

    // Signed by another key: B's signature under A's public key.
    const byB = parseCredentialRequest(credentialRequest(holderB, issuer.publicKey, req.nonce));
    await refusal(
      issuer.issue({ ...req, possession: byB.possession, claims: CLAIMS }),
      "invalid_argument",
      /proof of possession/,
    );
    // A's possession proof for another nonce, under this nonce.
    await refusal(
      issuer.issue({ ...req, possession: unknown.possession, claims: CLAIMS }),
      "invalid_argument",
      /proof of possession/,
    );
    // Addressed to another issuer (its proof of possession names that issuer).
    const other = await AttributeIssuer.init(dir());
    const forOther = parseCredentialRequest(credentialRequest(holderA, other.publicKey, req.nonce));
    await refusal(issuer.issue({ ...forOther, claims: CLAIMS }), "invalid_argument", /addressed to issuer/);
    await refusal(
      issuer.issue({ holder: forOther.holder, nonce: forOther.nonce, possession: forOther.possession, claims: CLAIMS }),
      "invalid_argument",
      /proof of possession/,
    );
    // Bad claims and an already expired credential.
    await refusal(issuer.issue({ ...req, claims: { ...CLAIMS, country: 0 } }), "invalid_argument", /country/);
    await refusal(
      issuer.issue({ ...req, claims: { ...CLAIMS, expiresAt: 20291231 } }),
      "invalid_argument",
      /expiresAt/,
    );

    // Refusals used nothing up: the honest request still gets its credential, once.
    const credential = await issuer.issue({ ...req, claims: CLAIMS });
    expect(credential.serial).to.equal(1);
    await refusal(issuer.issue({ ...req, claims: CLAIMS }), "invalid_argument", /nonce .* is not outstanding/);

    // A nonce lapses after nonceTtlSeconds.
    const late = await request(issuer);
    clock += 61_000;
    await refusal(issuer.issue({ ...late, claims: CLAIMS }), "invalid_argument", /nonce .* is not outstanding/);
  });

  it("serials only grow: across a reopen, and between two instances issuing at once", async function () {
    const d = dir();
    const first = await AttributeIssuer.init(d);
    const s1 = (await first.issue({ ...(await request(first)), claims: CLAIMS })).serial;
    const s2 = (await first.issue({ ...(await request(first, holderB)), claims: CLAIMS })).serial;
    expect([s1, s2]).to.deep.equal([1, 2]);

    const again = await AttributeIssuer.open(d);
    expect((await again.issue({ ...(await request(again)), claims: CLAIMS })).serial).to.equal(3);

    // Two instances (as two processes would) on the same books: the directory lock and the
    // re-read under it give every credential its own serial.
    const x = await AttributeIssuer.open(d);
    const y = await AttributeIssuer.open(d);
    const reqs = await Promise.all([request(x), request(y), request(x, holderB), request(y, holderB)]);
    const serials = await Promise.all(reqs.map((r, i) => (i % 2 ? y : x).issue({ ...r, claims: CLAIMS })));
    expect(serials.map((c) => c.serial).sort()).to.deep.equal([4, 5, 6, 7]);
    expect((await x.issued()).map((r) => r.serial)).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);
  });

  it("revokes: the list's root is the revocation tree's, round-trips as JSON, is idempotent, refuses unknown serials, and is served over HTTP", async function () {
    let clock = Date.UTC(2030, 0, 1);
    const issuer = await AttributeIssuer.init(dir(), { now: () => clock });
    for (let i = 0; i < 3; i++) await issuer.issue({ ...(await request(issuer)), claims: CLAIMS });

    const empty = await issuer.revocationList();
    expect(empty.root).to.equal(0n);
    expect(empty.revoked).to.deep.equal([]);
    expect(empty.issuer).to.deep.equal(issuer.publicKey);

    expect(await issuer.revoke(2)).to.equal(true);
    clock += 5_000;
    expect(await issuer.revoke(3)).to.equal(true);
    const list = await issuer.revocationList();
    const tree = await RevocationTree.create([2, 3]);
    expect(list.root).to.equal(tree.root());
    expect(list.root).to.equal(revocationRootOf([3, 2]));
    expect(list.root).not.to.equal(0n);
    expect(list.revoked.map(Number).sort()).to.deep.equal([2, 3]);
    expect(list.updatedAt).to.equal(clock);
    expect(await revocationListFromJson(JSON.parse(JSON.stringify(revocationListToJson(list))))).to.deep.equal(list);

    // Again: nothing changes (not even updatedAt).
    clock += 5_000;
    expect(await issuer.revoke(2)).to.equal(false);
    expect(await issuer.revocationList()).to.deep.equal(list);
    // A serial it never issued.
    await refusal(issuer.revoke(4), "invalid_argument", /never issued/);
    await refusal(issuer.revoke(-1), "invalid_argument", /serial/);
    // Another instance sees the revocations (they are on disk).
    expect((await (await AttributeIssuer.open(issuer.dir)).revocationList()).root).to.equal(list.root);

    const server = createServer(issuer.serveRevocationList());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/revocations.json`;
      const res = await fetch(url);
      expect(res.status).to.equal(200);
      expect(res.headers.get("content-type")).to.equal("application/json");
      expect(await revocationListFromJson(await res.json())).to.deep.equal(list);
      expect((await fetch(url, { method: "POST" })).status).to.equal(405);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("the holder refuses a credential issued to another holder, a tampered one, and one from an issuer it did not ask", async function () {
    const issuer = await AttributeIssuer.init(dir());
    const credential = await issuer.issue({ ...(await request(issuer)), claims: CLAIMS });
    const json = credentialToJson(credential);
    expect(() => acceptCredential(holderB, json))
      .to.throw()
      .that.satisfies((e: unknown) => isZkPayError(e, "attribute_proof_invalid") && /another holder/.test(String(e)));
    const tampered = JSON.parse(JSON.stringify(json)) as { claims: { birthDate: unknown } };
    tampered.claims.birthDate = typeof tampered.claims.birthDate === "string" ? "19900131" : 19900131;
    expect(() => acceptCredential(holderA, tampered))
      .to.throw()
      .that.satisfies((e: unknown) => isZkPayError(e, "attribute_proof_invalid") && /signature/.test(String(e)));
    const other = await AttributeIssuer.init(dir());
    expect(() => acceptCredential(holderA, json, { issuer: other.publicKey }))
      .to.throw()
      .that.satisfies((e: unknown) => isZkPayError(e, "attribute_proof_invalid") && /another issuer/.test(String(e)));
    expect(() => acceptCredential(holderA, { nonsense: true }))
      .to.throw()
      .that.satisfies((e: unknown) => isZkPayError(e));
    // A malformed request is a typed error naming the field.
    const req = credentialRequest(holderA, issuer.publicKey, 7n);
    expect(() => parseCredentialRequest({ ...req, holder: { x: "1", y: "2" } }))
      .to.throw()
      .that.satisfies((e: unknown) => isZkPayError(e, "invalid_argument") && /holder/.test(String(e)));
    expect(() => parseCredentialRequest({ ...req, nonce: "-1" }))
      .to.throw()
      .that.satisfies((e: unknown) => isZkPayError(e, "invalid_argument") && /nonce/.test(String(e)));
  });

  it("issues over HTTP (serveIssuance): the holder's obtainCredential gets a nonce, proves possession and checks the answer; the provider decides the claims; bad requests are 4xx, never a credential", async function () {
    const issuer = await AttributeIssuer.init(dir());
    const seen: string[] = [];
    const handler = issuer.serveIssuance({
      // The provider's own login: a bearer token names the account whose checked claims are signed.
      claimsFor: (req, r) => {
        seen.push(`${req.headers.authorization ?? ""} ${r.holder[0] === holderA.publicKey[0] ? "A" : "other"}`);
        return req.headers.authorization === "Bearer alice" ? CLAIMS : undefined;
      },
    });
    const server = createServer((req, res) =>
      req.url?.startsWith("/id/") ? handler(req, res) : res.writeHead(404).end(),
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/id`;
    try {
      const credential = await obtainCredential(url, holderA, {
        headers: { authorization: "Bearer alice" },
        issuer: issuer.publicKeyString,
      });
      expect(credential.claims).to.deep.equal(CLAIMS);
      expect(credential.holder).to.deep.equal(holderA.publicKey);
      expect(verifyCredentialSignature(credential)).to.equal(true);
      expect((await issuer.issued()).map((r) => r.serial)).to.deep.equal([credential.serial]);
      expect(seen).to.deep.equal(["Bearer alice A"]);

      // The provider refuses (no login): 403, nothing issued, the holder told why.
      await refusal(obtainCredential(url, holderA), "issuance_refused", /HTTP 403.*does not issue/);
      // An endpoint that speaks for another issuer than the one expected: refused before asking.
      const other = await AttributeIssuer.init(dir());
      await refusal(
        obtainCredential(url, holderA, { headers: { authorization: "Bearer alice" }, issuer: other.publicKeyString }),
        "attribute_proof_invalid",
        /speaks for issuer/,
      );
      expect(await issuer.issued()).to.have.length(1);

      // Raw requests: a replayed request (its nonce used up), one signed by another key, junk, a GET.
      const nonce = (await (await fetch(`${url}/nonce`)).json()) as { issuer: string; nonce: string };
      expect(nonce.issuer).to.equal(issuer.publicKeyString);
      const post = (body: string) =>
        fetch(`${url}/credentials`, {
          method: "POST",
          headers: { authorization: "Bearer alice", "content-type": "application/json" },
          body,
        });
      const good = JSON.stringify(credentialRequest(holderB, issuer.publicKeyString, nonce.nonce));
      expect((await post(good)).status).to.equal(200);
      const replay = await post(good);
      expect(replay.status).to.equal(400);
      expect(((await replay.json()) as { message: string }).message).to.match(/not outstanding/);
      const fresh = (await (await fetch(`${url}/nonce`)).json()) as { nonce: string };
      const forged = credentialRequest(holderB, issuer.publicKeyString, fresh.nonce);
      forged.holder = { x: holderA.publicKey[0].toString(), y: holderA.publicKey[1].toString() };
      const asked = seen.length;
      const f = await post(JSON.stringify(forged));
      expect(f.status).to.equal(400);
      expect(((await f.json()) as { message: string }).message).to.match(/proof of possession/);
      for (const junk of ["not json", "{}", JSON.stringify({ ...JSON.parse(good), nonce: "x" })]) {
        const r = await post(junk);
        expect(r.status, junk).to.equal(400);
        expect(((await r.json()) as { error: string }).error).to.equal("invalid_argument");
      }
      expect((await post("x".repeat(5000))).status).to.equal(413);
      expect((await fetch(`${url}/credentials`)).status).to.equal(405);
      expect((await fetch(`${url}/elsewhere`)).status).to.equal(404);
      // The forged request (and the junk) never reached the provider's callback.
      expect(seen).to.have.length(asked);
      expect(await issuer.issued()).to.have.length(2);
      // An issuer that is not there.
      await refusal(obtainCredential("http://127.0.0.1:1/id", holderA), "issuance_refused", /did not answer/);
      await refusal(obtainCredential("ftp://x/id", holderA), "invalid_argument", /http/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  describe("credential stores", function () {
    async function twoCredentials() {
      const issuer = await AttributeIssuer.init(dir());
      const a = await issuer.issue({ ...(await request(issuer)), claims: CLAIMS });
      const b = await issuer.issue({ ...(await request(issuer)), claims: { ...CLAIMS, country: 840 } });
      return { issuer, a, b };
    }

    async function behaves(store: AttributeCredentialStore) {
      const { issuer, a, b } = await twoCredentials();
      expect(await store.list()).to.deep.equal([]);
      await store.add(a);
      await store.add(b);
      await store.add(a); // again: replaced, not doubled
      expect(await store.list()).to.deep.equal([a, b]);
      expect(await store.remove(issuer.publicKeyString, a.serial)).to.equal(true);
      expect(await store.remove(issuer.publicKey, a.serial)).to.equal(false);
      expect(await store.list()).to.deep.equal([b]);
    }

    it("memory store: add (replacing the same issuer + serial), list, remove", async function () {
      await behaves(new MemoryAttributeCredentialStore());
    });

    it("file store: <wallet>/identity-credentials.json, survives a crash between the temporary write and the rename", async function () {
      const wallet = path.join(work, "wallet-store");
      const store = new FileAttributeCredentialStore(wallet);
      expect(store.file).to.equal(path.join(wallet, "identity-credentials.json"));
      await behaves(store);
      const { a } = await twoCredentials();
      await store.add(a);
      const before = await store.list();
      // A crash after the temporary file was written, before its rename: a torn temporary
      // file is left in the folder, the old file is untouched and still loads.
      writeFileSync(path.join(wallet, ".identity-credentials.json.deadbeef0000.tmp"), '{"v":1,"credentials":[{"ver');
      const reopened = new FileAttributeCredentialStore(wallet);
      expect(await reopened.list()).to.deep.equal(before);
      await reopened.add(a);
      expect(await new FileAttributeCredentialStore(wallet).list()).to.deep.equal(before);
      // Concurrent adds in one process are serialised: none is lost.
      const { a: c, b: d } = await twoCredentials();
      await Promise.all([reopened.add(c), reopened.add(d)]);
      expect(await new FileAttributeCredentialStore(wallet).list()).to.have.length(before.length + 2);
      expect(readdirSync(wallet).filter((f) => f.endsWith(".tmp"))).to.have.length(1); // only the stray one

      // A damaged file is a typed error naming it, not an empty list.
      writeFileSync(store.file, '{"v":1,"credentials":[{"version":"x"}]}');
      await refusal(store.list(), "note_store_corrupt", /identity-credentials\.json/);
    });
  });
});

/**
 * `402zk issuer` and `402zk identity` (Verify & Pay, #21), spawned as a user runs them: the
 * offline file flow init -> nonce -> request -> issue -> add -> list -> revoke -> revocations,
 * and the refusals (bad flags named, another holder's credential, a used nonce) with their
 * exit codes and no stack trace. No chain: these commands need none.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { ROOT } from "../../scripts/lib/paths.js";
import {
  credentialFromJson,
  issuerKeyFromString,
  verifyCredentialSignature,
} from "../../sdk/core/identity/credential.js";
import { RevocationTree, revocationListFromJson } from "../../sdk/core/identity/revocation.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { AttributeIssuer } from "../../sdk/identity/issuer.js";
import { buildCli, withCompileCache } from "../helpers/cli-build.js";
import { collectOutput, type ProcessResult } from "../helpers/process.js";

const BIN = path.join(ROOT, "bin", "402zk.js");

describe("402zk issuer / identity (spawned CLI, offline file flow)", function () {
  let work: string;
  const issuerDir = () => path.join(work, "issuer");
  const f = (name: string) => path.join(work, name);

  before(function () {
    this.timeout(300_000);
    // Others' work in progress may not type-check: the CLI runs from what tsc emitted.
    buildCli();
    work = mkdtempSync(path.join(os.tmpdir(), "402zk-issuer-cli-"));
  });
  after(function () {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Runs `402zk --wallet <work>/<wallet> ...args` (no chain, no EOA, the seed from the wallet folder). */
  function cli(args: string[], wallet = "wallet-a"): Promise<ProcessResult> {
    const child = spawn(process.execPath, [BIN, "--wallet", f(wallet), ...args], {
      cwd: work,
      env: withCompileCache({ ...process.env, ZK402_SEED: "", ZK402_PRIVATE_KEY: "" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    return collectOutput(child);
  }

  /** Expects exit `code`, an "error: <reason>: ..." line naming `names`, and no stack trace. */
  function refused(r: ProcessResult, code: number, reason: string, names: RegExp): void {
    expect(r.code, r.stderr).to.equal(code);
    expect(r.stderr).to.include(`error: ${reason}:`).and.match(names);
    expect(r.stderr, "no stack trace").not.to.match(/\n\s+at /);
  }

  it("init -> nonce -> request -> issue -> add -> list -> revoke -> revocations", async function () {
    this.timeout(120_000);
    // ---- the issuer's key
    const init = await cli(["issuer", "init", "--dir", issuerDir()]);
    expect(init.code, init.stderr).to.equal(0);
    const issuerKey = init.stdout.trim();
    expect(issuerKey).to.match(/^[A-Za-z0-9_-]{43}$/);
    issuerKeyFromString(issuerKey); // a real key
    expect(init.stderr).to.include("mode 0600");
    if (process.platform !== "win32") {
      expect(statSync(path.join(issuerDir(), "issuer-key.json")).mode & 0o777).to.equal(0o600);
    }
    refused(await cli(["issuer", "init", "--dir", issuerDir()]), 1, "invalid_argument", /already exists/);

    // ---- a nonce, the holder's request, the credential
    const nonce = await cli(["issuer", "nonce", "--dir", issuerDir()]);
    expect(nonce.code, nonce.stderr).to.equal(0);
    expect(nonce.stdout.trim()).to.match(/^\d+$/);
    const req = await cli([
      "identity",
      "request",
      "--issuer",
      issuerKey,
      "--nonce",
      nonce.stdout.trim(),
      "--out",
      f("req.json"),
    ]);
    expect(req.code, req.stderr).to.equal(0);
    const request = JSON.parse(readFileSync(f("req.json"), "utf8")) as { holder: { x: string }; issuer: string };
    expect(request.issuer).to.equal(issuerKey);
    // The request's holder key is the wallet's, derived from its seed.
    const seed = readFileSync(path.join(f("wallet-a"), "seed"), "utf8").trim();
    expect(request.holder.x).to.equal(WalletKeys.fromSeed(seed).attributeHolderKey().publicKey[0].toString());

    const issueArgs = (out: string) => [
      "issuer", "issue", "--dir", issuerDir(), "--request", f("req.json"),
      "--birth-date", "2000-01-31", "--country", "276", "--expires", "2040-01-01", "--flags", "0x1", "--out", f(out),
    ]; // prettier-ignore
    const issued = await cli(issueArgs("cred.json"));
    expect(issued.code, issued.stderr).to.equal(0);
    expect(issued.stderr).to.include("issued serial 1");
    const credential = credentialFromJson(JSON.parse(readFileSync(f("cred.json"), "utf8")));
    expect(verifyCredentialSignature(credential)).to.equal(true);
    expect(credential.claims).to.deep.equal({ birthDate: 20000131, country: 276, expiresAt: 20400101, flags: 1n });
    // The nonce is used up.
    refused(await cli(issueArgs("again.json")), 1, "invalid_argument", /nonce .* not outstanding/);

    // ---- the holder stores it; another wallet refuses it
    const add = await cli(["identity", "add", f("cred.json")]);
    expect(add.code, add.stderr).to.equal(0);
    expect(JSON.parse(add.stdout)).to.deep.include({ ok: true, issuer: issuerKey, serial: 1, expiresAt: "2040-01-01" });
    refused(await cli(["identity", "add", f("cred.json")], "wallet-b"), 2, "attribute_proof_invalid", /another holder/);
    expect(() => readFileSync(path.join(f("wallet-b"), "identity-credentials.json"))).to.throw();

    const list = await cli(["identity", "list"]);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.include(issuerKey).and.include("serial 1").and.include("expires 2040-01-01");
    expect(list.stdout, "attributes only with --show").not.to.match(/2000-01-31|276/);
    const shown = await cli(["identity", "list", "--show", "--json"]);
    expect(JSON.parse(shown.stdout)).to.deep.include({
      credentials: [
        {
          issuer: issuerKey,
          serial: 1,
          expiresAt: "2040-01-01",
          expired: false,
          birthDate: "2000-01-31",
          country: 276,
          flags: "0x1",
        },
      ],
    });

    // ---- revocation
    const revoke = await cli(["issuer", "revoke", "--dir", issuerDir(), "--serial", "1"]);
    expect(revoke.code, revoke.stderr).to.equal(0);
    const root = (await RevocationTree.create([1])).root();
    expect(JSON.parse(revoke.stdout)).to.deep.equal({
      serial: 1,
      revoked: true,
      alreadyRevoked: false,
      root: root.toString(),
    });
    const again = await cli(["issuer", "revoke", "--dir", issuerDir(), "--serial", "1"]);
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout)).to.deep.include({ revoked: false, alreadyRevoked: true });
    refused(
      await cli(["issuer", "revoke", "--dir", issuerDir(), "--serial", "99"]),
      1,
      "invalid_argument",
      /never issued/,
    );

    const revs = await cli(["issuer", "revocations", "--dir", issuerDir(), "--out", f("revocations.json")]);
    expect(revs.code, revs.stderr).to.equal(0);
    const published = await revocationListFromJson(JSON.parse(readFileSync(f("revocations.json"), "utf8")));
    expect(published.root).to.equal(root);
    expect(published.revoked).to.deep.equal([1n]);
    expect(published.issuer).to.deep.equal(issuerKeyFromString(issuerKey));
    const printed = await cli(["issuer", "revocations", "--dir", issuerDir()]);
    expect(JSON.parse(printed.stdout)).to.deep.equal(JSON.parse(readFileSync(f("revocations.json"), "utf8")));

    // ---- remove
    const removed = await cli(["identity", "remove", "--issuer", issuerKey, "--serial", "1"]);
    expect(removed.code, removed.stderr).to.equal(0);
    expect((await cli(["identity", "list"])).stdout).to.include("no identity credentials");
  });

  it("bad input names the flag, exits 1 and prints no stack trace", async function () {
    this.timeout(120_000);
    const dir = f("issuer-bad");
    const key = (await cli(["issuer", "init", "--dir", dir])).stdout.trim();
    const nonce = (await cli(["issuer", "nonce", "--dir", dir])).stdout.trim();
    expect(
      (await cli(["identity", "request", "--issuer", key, "--nonce", nonce, "--out", f("req-bad.json")])).code,
    ).to.equal(0);
    const issue = (extra: Record<string, string>) => {
      const o = { "--birth-date": "2000-01-31", "--country": "276", "--expires": "2040-01-01", ...extra };
      return cli(["issuer", "issue", "--dir", dir, "--request", f("req-bad.json"), ...Object.entries(o).flat()]);
    };
    refused(await issue({ "--country": "DE" }), 1, "invalid_argument", /--country/);
    refused(await issue({ "--country": "1000" }), 1, "invalid_argument", /--country/);
    refused(await issue({ "--birth-date": "2000-02-30" }), 1, "invalid_argument", /--birth-date/);
    refused(await issue({ "--expires": "soon" }), 1, "invalid_argument", /--expires/);
    refused(await issue({ "--flags": "0x10000000000000000" }), 1, "invalid_argument", /--flags/);
    refused(await issue({ "--request": f("missing.json") }), 1, "invalid_argument", /--request/);
    writeFileSync(f("garbage.json"), "{ not json");
    refused(await issue({ "--request": f("garbage.json") }), 1, "invalid_argument", /--request/);
    writeFileSync(f("wrong.json"), JSON.stringify({ version: "402zk-attr-request-v1" }));
    refused(await issue({ "--request": f("wrong.json") }), 1, "invalid_argument", /--request .*credential request/);
    refused(
      await cli(["issuer", "issue", "--dir", f("nowhere"), "--request", f("req-bad.json"), "--birth-date", "2000-01-31", "--country", "276", "--expires", "2040-01-01"]), // prettier-ignore
      1,
      "invalid_argument",
      /holds no issuer key/,
    );
    refused(await cli(["identity", "request", "--issuer", "nope", "--nonce", "1"]), 1, "invalid_argument", /--issuer/);
    refused(await cli(["identity", "request", "--issuer", key, "--nonce", "x1"]), 1, "invalid_argument", /--nonce/);
    refused(await cli(["issuer", "revoke", "--dir", dir, "--serial", "-3"]), 1, "invalid_argument", /--serial/);
    // A missing required flag: commander names it (exit 1).
    const missing = await cli(["issuer", "nonce"]);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.include("--dir");
    // Nothing was issued by all that: the request still gets serial 1.
    const ok = await issue({ "--out": f("cred-bad.json") });
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stderr).to.include("issued serial 1");
  });
  it("identity obtain <url>: the credential over the issuer's HTTP endpoint (serveIssuance), with the provider's login header; a refusal exits 2 naming the status", async function () {
    this.timeout(120_000);
    const issuer = await AttributeIssuer.init(f("issuer-http"));
    const handler = issuer.serveIssuance({
      claimsFor: (req) =>
        req.headers.authorization === "Bearer alice"
          ? { birthDate: 19900517, country: 276, expiresAt: 20400101, flags: 0n }
          : undefined,
    });
    const server = createServer(handler);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/id`;
    try {
      const ok = await cli(["identity", "obtain", url, "-H", "Authorization: Bearer alice", "--issuer", issuer.publicKeyString], "wallet-http"); // prettier-ignore
      expect(ok.code, ok.stderr).to.equal(0);
      expect(JSON.parse(ok.stdout)).to.deep.include({ ok: true, issuer: issuer.publicKeyString, serial: 1 });
      const listed = await cli(["identity", "list", "--json"], "wallet-http");
      expect(listed.stdout).to.include(issuer.publicKeyString);
      refused(await cli(["identity", "obtain", url], "wallet-http"), 2, "issuance_refused", /HTTP 403/);
      refused(await cli(["identity", "obtain", url, "-H", "no colon"], "wallet-http"), 1, "invalid_argument", /-H/);
      expect((await issuer.issued()).map((r) => r.serial)).to.deep.equal([1]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

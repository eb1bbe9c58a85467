import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

import { expect } from "chai";
import * as snarkjs from "snarkjs";

import type { SnarkjsVkey } from "../../scripts/lib/batch-verifier-source.js";
import { ARTIFACTS_DIR, ROOT, VERIFIER_SOL } from "../../scripts/lib/paths.js";

const vkey = JSON.parse(readFileSync(path.join(ARTIFACTS_DIR, "payment.vkey.json"), "utf8")) as SnarkjsVkey;
const verifierSource = readFileSync(VERIFIER_SOL, "utf8");
const manifest = JSON.parse(readFileSync(path.join(ARTIFACTS_DIR, "manifest.json"), "utf8"));

/** Reads `uint256 constant NAME = VALUE;` from the generated verifier. */
function constant(name: string): string {
  const m = new RegExp(`uint256 constant ${name}\\s*=\\s*(\\d+);`).exec(verifierSource);
  if (!m) throw new Error(`constant ${name} not found in PaymentVerifier.sol`);
  return m[1]!;
}

describe("Committed circuit artifacts are consistent", function () {
  it("the Solidity verifier embeds exactly the committed verification key", function () {
    expect(vkey.nPublic).to.equal(6);
    expect(constant("alphax")).to.equal(vkey.vk_alpha_1[0]);
    expect(constant("alphay")).to.equal(vkey.vk_alpha_1[1]);
    // snarkjs writes G2 coordinates in (x1, x0) order for the EVM pairing precompile.
    for (const [name, g2] of [
      ["beta", vkey.vk_beta_2],
      ["gamma", vkey.vk_gamma_2],
      ["delta", vkey.vk_delta_2],
    ] as const) {
      expect(constant(`${name}x1`), `${name}x1`).to.equal(g2[0]![1]);
      expect(constant(`${name}x2`), `${name}x2`).to.equal(g2[0]![0]);
      expect(constant(`${name}y1`), `${name}y1`).to.equal(g2[1]![1]);
      expect(constant(`${name}y2`), `${name}y2`).to.equal(g2[1]![0]);
    }
    expect(vkey.IC.length).to.equal(vkey.nPublic + 1);
    vkey.IC.forEach((ic, i) => {
      expect(constant(`IC${i}x`), `IC${i}x`).to.equal(ic[0]);
      expect(constant(`IC${i}y`), `IC${i}y`).to.equal(ic[1]);
    });
    expect(verifierSource).to.match(/uint\[6\] calldata _pubSignals/);
  });

  it("the verification key is the one in the committed zkey", async function () {
    const fromZkey = await snarkjs.zKey.exportVerificationKey(path.join(ARTIFACTS_DIR, "payment.zkey"));
    expect(JSON.parse(JSON.stringify(fromZkey))).to.deep.equal(vkey);
  });

  it("files match the hashes in manifest.json", function () {
    const sha = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");
    expect(sha(path.join(ARTIFACTS_DIR, "payment.wasm"))).to.equal(manifest.sha256.wasm);
    expect(sha(path.join(ARTIFACTS_DIR, "payment.zkey"))).to.equal(manifest.sha256.zkey);
    expect(sha(path.join(ARTIFACTS_DIR, "payment.vkey.json"))).to.equal(manifest.sha256.vkey);
    expect(sha(VERIFIER_SOL)).to.equal(manifest.sha256.verifier);
    expect(manifest.publicSignals).to.deep.equal([
      "nullifierHash",
      "changeCommitment",
      "root",
      "amount",
      "fee",
      "context",
    ]);
  });
});

describe("SDK ABI matches the compiled Facilitator", function () {
  it("has every function and event of the contract, with identical signatures", async function () {
    const { formatAbiItem } = await import("viem/utils");
    const { facilitatorAbi } = await import("../../sdk/core/abi.js");
    const compiled = JSON.parse(
      readFileSync(path.join(ROOT, "artifacts", "contracts", "Facilitator.sol", "Facilitator.json"), "utf8"),
    ).abi as { type: string }[];
    const sig = (items: readonly { type: string }[], type: string) =>
      new Set(items.filter((i) => i.type === type).map((i) => formatAbiItem(i as never)));
    for (const type of ["function", "event"]) {
      expect([...sig(facilitatorAbi, type)].sort(), type).to.deep.equal([...sig(compiled, type)].sort());
    }
    // Errors: the SDK decodes all of the Facilitator's own errors.
    const compiledErrors = sig(compiled, "error");
    for (const e of sig(facilitatorAbi, "error")) expect(compiledErrors.has(e), e).to.equal(true);
  });
});

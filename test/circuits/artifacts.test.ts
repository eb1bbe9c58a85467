import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import * as snarkjs from "snarkjs";

import { batchVerifierSource, type SnarkjsVkey } from "../../scripts/lib/batch-verifier-source.js";
import { ARTIFACTS_DIR, ROOT } from "../../scripts/lib/paths.js";
import {
  artifactFileNames,
  CIRCUIT_NAMES,
  CIRCUITS,
  namedSignals,
  PAYMENT_SIGNALS,
  PRESENTATION_SIGNALS,
  type CircuitSpec,
  type OnChainVerifier,
} from "../../sdk/core/circuits/registry.js";
import { artifactBytes, preloadArtifacts } from "../../sdk/core/circuits/artifacts.js";
import { artifactsOf as browserArtifactsOf, fetchVerificationKey } from "../../sdk/core/circuits/artifacts.browser.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { artifactsOf, verificationKeyOf } from "../../sdk/node/artifacts.js";

// Walks the circuit registry (sdk/core/circuits/registry.ts): every circuit's committed
// artifacts exist under the one naming rule, match their manifest, and agree with the
// registry (signals, parameters, setup size) and with the verifier contracts generated
// from them. A new circuit gets these checks by its registry entry alone.

const sha = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");

/** Reads `uint256 constant NAME = VALUE;` from a snarkjs-generated verifier. */
function constant(source: string, name: string): string {
  const m = new RegExp(`uint256 constant ${name}\\s*=\\s*(\\d+);`).exec(source);
  if (!m) throw new Error(`constant ${name} not found`);
  return m[1]!;
}

/** The single-proof verifier embeds exactly `vkey` (snarkjs' constants, EIP-197 G2 order). */
function expectSingleVerifierEmbeds(source: string, vkey: SnarkjsVkey): void {
  expect(constant(source, "alphax")).to.equal(vkey.vk_alpha_1[0]);
  expect(constant(source, "alphay")).to.equal(vkey.vk_alpha_1[1]);
  // snarkjs writes G2 coordinates in (x1, x0) order for the EVM pairing precompile.
  for (const [name, g2] of [
    ["beta", vkey.vk_beta_2],
    ["gamma", vkey.vk_gamma_2],
    ["delta", vkey.vk_delta_2],
  ] as const) {
    expect(constant(source, `${name}x1`), `${name}x1`).to.equal(g2[0]![1]);
    expect(constant(source, `${name}x2`), `${name}x2`).to.equal(g2[0]![0]);
    expect(constant(source, `${name}y1`), `${name}y1`).to.equal(g2[1]![1]);
    expect(constant(source, `${name}y2`), `${name}y2`).to.equal(g2[1]![0]);
  }
  vkey.IC.forEach((ic, i) => {
    expect(constant(source, `IC${i}x`), `IC${i}x`).to.equal(ic[0]);
    expect(constant(source, `IC${i}y`), `IC${i}y`).to.equal(ic[1]);
  });
  expect(source).to.match(new RegExp(`uint\\[${vkey.nPublic}\\] calldata _pubSignals`));
}

describe("Committed circuit artifacts are consistent with the registry", function () {
  it("names every circuit once, with a main file, a power of tau and distinct signal names", function () {
    expect(CIRCUIT_NAMES).to.deep.equal(["payment", "presentation", "inference", "attribute"]);
    for (const name of CIRCUIT_NAMES) {
      const spec: CircuitSpec = CIRCUITS[name];
      expect(existsSync(path.join(ROOT, spec.main)), spec.main).to.equal(true);
      expect(spec.ptauPower, name).to.be.within(8, 28);
      expect(new Set(spec.publicSignals).size, name).to.equal(spec.publicSignals.length);
    }
    // The named accessors follow the table's order.
    expect(PAYMENT_SIGNALS).to.deep.equal({
      nullifierHash: 0,
      payeeCommitment: 1,
      changeCommitment: 2,
      root: 3,
      treeIndex: 4,
      publicValue: 5,
      context: 6,
    });
    // Every circuit names the version of its statement, and its manifest records it.
    expect(CIRCUITS.payment.version).to.equal("payment-v2");
    for (const name of CIRCUIT_NAMES) {
      const manifest = JSON.parse(
        readFileSync(path.join(ROOT, "circuits", "artifacts", `${name}.manifest.json`), "utf8"),
      );
      expect(manifest.version, name).to.equal(CIRCUITS[name].version);
    }
    expect(PRESENTATION_SIGNALS.originToken).to.equal(0);
    expect(PRESENTATION_SIGNALS.context).to.equal(5);
    expect(namedSignals("payment", [1n, 2n, 3n, 4n, 5n, 6n, 7n]).root).to.equal(4n);
    let err: unknown;
    try {
      namedSignals("presentation", [1n]);
    } catch (e) {
      err = e;
    }
    expect(isZkPayError(err, "invalid_argument"), String(err)).to.equal(true);
  });

  for (const name of CIRCUIT_NAMES) {
    describe(name, function () {
      const spec: CircuitSpec = CIRCUITS[name];
      const files = artifactFileNames(name);
      const at = (f: string) => path.join(ARTIFACTS_DIR, f);
      const read = (f: string) => JSON.parse(readFileSync(at(f), "utf8"));

      it("has its artifacts under the one naming rule, and artifactsOf finds them", function () {
        for (const f of Object.values(files)) expect(existsSync(at(f)), f).to.equal(true);
        const a = artifactsOf(name);
        expect([a.wasm, a.zkey, a.vkey, a.manifest]).to.deep.equal(
          [files.wasm, files.zkey, files.vkey, files.manifest].map(at),
        );
      });

      it("matches the hashes, signals and parameters of its manifest", function () {
        const manifest = read(files.manifest);
        expect(sha(at(files.wasm)), "wasm").to.equal(manifest.sha256.wasm);
        expect(sha(at(files.zkey)), "zkey").to.equal(manifest.sha256.zkey);
        expect(sha(at(files.vkey)), "vkey").to.equal(manifest.sha256.vkey);
        expect(manifest.circuit).to.equal(spec.main);
        expect(manifest.publicSignals).to.deep.equal(spec.publicSignals);
        for (const [k, v] of Object.entries(spec.params)) expect(manifest[k], k).to.equal(v);
        // The setup has room for the circuit: constraints + public signals + 1 rows.
        expect(manifest.constraints + spec.publicSignals.length + 1).to.be.at.most(2 ** spec.ptauPower);
        if (manifest.developmentSetup) expect(manifest.ptau).to.include(`pot${spec.ptauPower}`);
      });

      it("has a verification key of the registry's signal count, the one in the committed zkey", async function () {
        const vkey = read(files.vkey) as SnarkjsVkey;
        expect(vkey.nPublic).to.equal(spec.publicSignals.length);
        expect(vkey.IC.length).to.equal(vkey.nPublic + 1);
        const fromZkey = await snarkjs.zKey.exportVerificationKey(at(files.zkey));
        expect(JSON.parse(JSON.stringify(fromZkey))).to.deep.equal(vkey);
      });

      const verifiers: readonly OnChainVerifier[] = spec.verifiers;
      if (verifiers.length === 0) {
        it("has no verifier contract hash in its manifest (verified off chain)", function () {
          const manifest = read(files.manifest);
          expect(Object.keys(manifest.sha256).sort()).to.deep.equal(["ptau", "r1cs", "vkey", "wasm", "zkey"]);
        });
      }
      for (const v of verifiers) {
        it(`${v.contract} (${v.kind}) embeds exactly the committed verification key`, function () {
          const vkey = read(files.vkey) as SnarkjsVkey;
          const file = path.join(ROOT, v.source);
          const source = readFileSync(file, "utf8");
          expect(sha(file)).to.equal(read(files.manifest).sha256[v.manifestKey]);
          expect(source).to.match(new RegExp(`contract ${v.contract}\\b`));
          if (v.kind === "single") expectSingleVerifierEmbeds(source, vkey);
          // The batched verifier is a pure function of the key: regenerating it gives the file.
          else expect(source).to.equal(batchVerifierSource(vkey, v.contract, spec.main));
        });
      }
    });
  }
});

/** The error `fn` throws or rejects with. */
async function errorOf(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

describe("artifact loaders (Node files, browser URLs, the caller's reader)", function () {
  let server: Server;
  let base: string;
  let requests: string[];

  before(async function () {
    requests = [];
    // Serves circuits/artifacts as a CDN would: what the browser variant fetches.
    server = createServer((req, res) => {
      requests.push(req.url ?? "");
      const file = path.join(ARTIFACTS_DIR, path.basename(req.url ?? ""));
      if (!existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200).end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/402zk`;
  });

  after(async function () {
    await new Promise((resolve) => server.close(resolve));
  });

  it("Node: reads the files with its node:fs loader, once per location", async function () {
    const a = artifactsOf("presentation");
    const bytes = await artifactBytes(a.zkey, a.read);
    expect(Buffer.from(bytes).equals(readFileSync(a.zkey))).to.equal(true);
    expect(await artifactBytes(a.zkey, a.read)).to.equal(bytes); // the cached array
    expect(verificationKeyOf("presentation").vkeySha256).to.equal(sha(a.vkey));
  });

  it("Node: a directory without the artifacts is artifacts_missing; an unknown circuit invalid_argument", async function () {
    const empty = mkdtempSync(path.join(os.tmpdir(), "402zk-artifacts-"));
    try {
      expect(isZkPayError(await errorOf(() => artifactsOf("payment", empty)), "artifacts_missing")).to.equal(true);
      expect(isZkPayError(await errorOf(() => verificationKeyOf("payment", empty)), "artifacts_missing")).to.equal(
        true,
      );
    } finally {
      rmSync(empty, { recursive: true });
    }
    const unknown = await errorOf(() => artifactsOf("nope" as never));
    expect(isZkPayError(unknown, "invalid_argument"), String(unknown)).to.equal(true);
  });

  it("browser: URLs under the base by the naming rule, fetched once, byte for byte", async function () {
    const a = browserArtifactsOf("presentation", base);
    expect(browserArtifactsOf("presentation", `${base}/`)).to.deep.equal(a);
    expect([a.wasm, a.zkey, a.vkey, a.manifest]).to.deep.equal(
      Object.values(artifactFileNames("presentation")).map((f) => `${base}/${f}`),
    );
    requests.length = 0;
    await preloadArtifacts(a);
    await preloadArtifacts(a);
    expect(requests.sort()).to.deep.equal(["/402zk/presentation.wasm", "/402zk/presentation.zkey"]);
    const wasm = await artifactBytes(a.wasm, a.read);
    expect(Buffer.from(wasm).equals(readFileSync(path.join(ARTIFACTS_DIR, "presentation.wasm")))).to.equal(true);
    const { vkey, vkeySha256 } = await fetchVerificationKey("presentation", base);
    expect(vkey).to.deep.equal(verificationKeyOf("presentation").vkey);
    expect(vkeySha256).to.equal(verificationKeyOf("presentation").vkeySha256);
  });

  it("browser: a missing file is artifacts_missing and is fetched again next time; a relative base outside a page is invalid_argument", async function () {
    const a = { ...browserArtifactsOf("payment", base), wasm: `${base}/gone.wasm` };
    requests.length = 0;
    for (let i = 0; i < 2; i++) {
      const e = await errorOf(() => preloadArtifacts(a));
      expect(isZkPayError(e, "artifacts_missing"), String(e)).to.equal(true);
    }
    expect(requests.filter((r) => r.endsWith("gone.wasm"))).to.have.length(2);
    const e = await errorOf(() => browserArtifactsOf("payment", "/402zk/"));
    expect(isZkPayError(e, "invalid_argument"), String(e)).to.equal(true);
  });

  it("uses the caller's reader for locations, and plain paths without one", async function () {
    const seen: string[] = [];
    const wasm = readFileSync(path.join(ARTIFACTS_DIR, "presentation.wasm"));
    const read = async (location: string) => {
      seen.push(location);
      return new Uint8Array(wasm);
    };
    await preloadArtifacts({ wasm: "mem://presentation.wasm", zkey: "mem://presentation.zkey", read });
    expect(seen).to.deep.equal(["mem://presentation.wasm", "mem://presentation.zkey"]);
    // A bare path (no reader) is read by Node's fs, as artifacts written by hand always were.
    const bare = await artifactBytes(path.join(ARTIFACTS_DIR, ".", "presentation.vkey.json"));
    expect(Buffer.from(bare).equals(readFileSync(path.join(ARTIFACTS_DIR, "presentation.vkey.json")))).to.equal(true);
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

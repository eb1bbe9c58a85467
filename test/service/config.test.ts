import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { expect } from "chai";
import { parseGwei } from "viem";

import { isZkPayError } from "../../sdk/core/errors.js";
import { gasPolicyOf, loadServiceConfig } from "../../sdk/service/config.js";
import { FeePolicy } from "../../sdk/service/fees.js";
import { loadRelayerAccount, readHardhatKeystore } from "../../sdk/service/keys.js";
import { jsonLogger, redact } from "../../sdk/service/logger.js";
import { CostLimiter } from "../../sdk/service/rate-limit.js";
import { devAccount, devPrivateKey } from "../../scripts/lib/dev-env.js";
import { ROOT } from "../../scripts/lib/paths.js";

describe("402zk facilitator service: configuration, keys, fees, limits, logs", function () {
  const dir = mkdtempSync(path.join(os.tmpdir(), "402zk-config-"));

  it("config: defaults < file < environment < flags; a bad field is named", function () {
    const file = path.join(dir, "facilitator.json");
    writeFileSync(
      file,
      JSON.stringify({ rpcUrl: "http://file:8545", port: 5000, gas: { maxFeePerGasGwei: 7 }, batch: { maxSize: 4 } }),
    );
    const c = loadServiceConfig({
      file,
      env: { ZK402_PORT: "6000", ZK402_FEE: "1234" },
      overrides: { host: "0.0.0.0" },
    });
    expect(c.rpcUrl).to.equal("http://file:8545");
    expect(c.port).to.equal(6000);
    expect(c.host).to.equal("0.0.0.0");
    expect(c.fee.min).to.equal(1234n);
    expect(c.batch.maxSize).to.equal(4);
    expect(c.database).to.equal("./402zk-facilitator.sqlite");
    expect(gasPolicyOf(c).maxFeePerGas).to.equal(parseGwei("7"));
    const flags = loadServiceConfig({ file, env: { ZK402_PORT: "6000" }, overrides: { port: 7000 } });
    expect(flags.port).to.equal(7000);
    // The example in docs/ is a valid configuration.
    const example = loadServiceConfig({ file: path.join(ROOT, "docs", "facilitator.example.json"), env: {} });
    expect(example.network).to.equal("base-sepolia");
    expect(example.fee.nativePrice).to.equal(3_000_000_000n);
    expect(() => loadServiceConfig({ env: {} })).to.throw(/config rpcUrl/);
    // Base units also in the CLI's form ("1000u"); a token amount here is refused, not scaled.
    expect(loadServiceConfig({ env: { ZK402_RPC_URL: "x", ZK402_FEE: "1000u" } }).fee.min).to.equal(1000n);
    expect(() => loadServiceConfig({ env: { ZK402_RPC_URL: "x", ZK402_FEE: "0.5" } })).to.throw(
      /config fee.min: must be a whole number of base units/,
    );
    // fillDefaults sees what the layers set and fills only what they left out.
    const filled = loadServiceConfig({
      file,
      env: {},
      fillDefaults: (m) => {
        m.rpcUrl ??= "http://default:1";
        m.network ??= "localhost";
      },
    });
    expect(filled.rpcUrl).to.equal("http://file:8545");
    expect(filled.network).to.equal("localhost");
    expect(() => loadServiceConfig({ env: { ZK402_RPC_URL: "x", ZK402_PORT: "99999" } })).to.throw(/config port/);
    try {
      loadServiceConfig({ file: path.join(dir, "missing.json"), env: {} });
      expect.fail("a missing file must throw");
    } catch (err) {
      expect(isZkPayError(err, "invalid_argument")).to.equal(true);
    }
  });

  it("keys: the relayer key from the environment, or decrypted from a Hardhat 3 keystore", async function () {
    this.timeout(60_000);
    const c = loadServiceConfig({ env: { ZK402_RPC_URL: "http://x" } });
    const fromEnv = await loadRelayerAccount(c, { ZK402_RELAYER_KEY: devPrivateKey(4) });
    expect(fromEnv.address).to.equal(devAccount(4).address);
    let missing: unknown;
    await loadRelayerAccount(c, {}).catch((e: unknown) => (missing = e));
    expect(String(missing)).to.match(/ZK402_RELAYER_KEY/);
    // A keystore written by Hardhat's own code (what `npx hardhat keystore set RELAYER_KEY` does).
    const require = createRequire(import.meta.url);
    const pkg = require.resolve("@nomicfoundation/hardhat-keystore/package.json");
    const enc = (await import(
      pathToFileURL(path.join(path.dirname(pkg), "dist", "src", "internal", "keystores", "encryption.js")).href
    )) as {
      createMasterKey(a: { password: string }): { salt: Uint8Array; masterKey: Uint8Array };
      createEmptyEncryptedKeystore(a: { masterKey: Uint8Array; salt: Uint8Array }): unknown;
      addSecretToKeystore(a: {
        masterKey: Uint8Array;
        encryptedKeystore: unknown;
        key: string;
        value: string;
      }): unknown;
    };
    const { salt, masterKey } = enc.createMasterKey({ password: "correct horse battery" });
    const ks = enc.addSecretToKeystore({
      masterKey,
      encryptedKeystore: enc.createEmptyEncryptedKeystore({ masterKey, salt }),
      key: "RELAYER_KEY",
      value: devPrivateKey(6),
    });
    const file = path.join(dir, "keystore.json");
    writeFileSync(file, JSON.stringify(ks));
    expect(await readHardhatKeystore({ file, key: "RELAYER_KEY", password: "correct horse battery" })).to.equal(
      devPrivateKey(6),
    );
    const kc = loadServiceConfig({
      env: { ZK402_RPC_URL: "http://x" },
      overrides: { relayer: { keystore: { path: file, key: "RELAYER_KEY" } } },
    });
    const fromKeystore = await loadRelayerAccount(kc, { ZK402_KEYSTORE_PASSWORD: "correct horse battery" });
    expect(fromKeystore.address).to.equal(devAccount(6).address);
    let wrong: unknown;
    await loadRelayerAccount(kc, { ZK402_KEYSTORE_PASSWORD: "wrong" }).catch((e: unknown) => (wrong = e));
    expect(String(wrong)).to.match(/wrong password or key name/);
  });

  it("fees: the published fee covers gas at the configured price with margin; a transaction that would not is refused", function () {
    // 340k gas at 2 gwei = 0.00068 ETH; at 3,000 USDC per ETH = 2.04 USDC = 2,040,000 units; +20%.
    const f = new FeePolicy({ nativePrice: 3_000_000_000n, minFee: 1000n });
    expect(f.publish(parseGwei("2"))).to.equal(2_448_000n);
    expect(f.fee).to.equal(2_448_000n);
    f.assertCovers(340_000n, parseGwei("2"), 2_448_000n);
    expect(() => f.assertCovers(340_000n, parseGwei("4"), 2_448_000n)).to.throw(/more than the 2448000/);
    const fixed = new FeePolicy({ minFee: 5n });
    expect(fixed.publish(parseGwei("100"))).to.equal(5n);
    expect(fixed.checksCoverage).to.equal(false);
  });

  it("limits: refused payments cost a caller more than requests; the budget refills", async function () {
    const l = new CostLimiter({ burst: 10, perSecond: 1000 });
    expect(l.take("a", 1)).to.equal(0);
    l.charge("a", 50);
    expect(l.take("a", 1)).to.be.greaterThan(0);
    expect(l.take("b", 1)).to.equal(0); // callers are separate
    await new Promise((r) => setTimeout(r, 60));
    expect(l.take("a", 1)).to.equal(0);
  });

  it("logs: one JSON object per line; keys, secrets and raw transactions are redacted at any depth", function () {
    const lines: string[] = [];
    const log = jsonLogger({ write: (l) => lines.push(l) }).child({ part: "t" });
    log.info("hello", { privateKey: devPrivateKey(1), nested: { apiKey: "k", ok: 1n, raw: "0xdead" }, tx: "0x1" });
    log.debug("dropped below info");
    expect(lines).to.have.length(1);
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(rec).to.include({ level: "info", msg: "hello", part: "t", privateKey: "[redacted]", tx: "0x1" });
    expect(rec.nested).to.deep.equal({ apiKey: "[redacted]", ok: "1", raw: "[redacted]" });
    expect(lines[0]).to.not.include(devPrivateKey(1).slice(2));
    expect(redact({ seed: "x" })).to.deep.equal({ seed: "[redacted]" });
  });
});

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import type { Hex } from "viem";
import { privateKeyToAccount, type PrivateKeyAccount } from "viem/accounts";

import { ZkPayError } from "../core/errors.js";
import type { ServiceConfig, EnvVars } from "./config.js";

/** Hardhat 3's keystore file: `<config dir>/hardhat-nodejs/keystore.json` (env-paths). */
export function defaultKeystorePath(env: EnvVars = process.env): string {
  const base =
    process.platform === "darwin"
      ? path.join(os.homedir(), "Library", "Preferences")
      : process.platform === "win32"
        ? (env.APPDATA ?? path.join(os.homedir(), "AppData", "Roaming"))
        : (env.XDG_CONFIG_HOME ?? path.join(os.homedir(), ".config"));
  return path.join(base, "hardhat-nodejs", "keystore.json");
}

interface KeystoreEncryption {
  deriveMasterKeyFromKeystore(a: { password: string; encryptedKeystore: unknown }): Uint8Array;
  decryptSecret(a: { masterKey: Uint8Array; encryptedKeystore: unknown; key: string }): string;
}

/**
 * Decrypts one secret of a Hardhat 3 keystore (`npx hardhat keystore set RELAYER_KEY`)
 * with Hardhat's own code (`@nomicfoundation/hardhat-keystore`, which must be installed:
 * it comes with Hardhat's toolbox). Throws `invalid_argument` on a wrong password or key.
 *
 * @example
 * const key = await readHardhatKeystore({ key: "RELAYER_KEY", password: process.env.ZK402_KEYSTORE_PASSWORD! });
 */
export async function readHardhatKeystore(o: { file?: string; key: string; password: string }): Promise<string> {
  const file = o.file ?? defaultKeystorePath();
  let encryptedKeystore: unknown;
  try {
    encryptedKeystore = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ZkPayError("invalid_argument", `cannot read the Hardhat keystore ${file}: ${(err as Error).message}`);
  }
  let enc: KeystoreEncryption;
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve("@nomicfoundation/hardhat-keystore/package.json");
    const mod = path.join(path.dirname(pkg), "dist", "src", "internal", "keystores", "encryption.js");
    enc = (await import(pathToFileURL(mod).href)) as KeystoreEncryption;
  } catch (err) {
    throw new ZkPayError(
      "invalid_argument",
      `reading a Hardhat keystore needs @nomicfoundation/hardhat-keystore installed: ${(err as Error).message}`,
    );
  }
  try {
    const masterKey = enc.deriveMasterKeyFromKeystore({ password: o.password, encryptedKeystore });
    return enc.decryptSecret({ masterKey, encryptedKeystore, key: o.key });
  } catch (err) {
    throw new ZkPayError(
      "invalid_argument",
      `cannot decrypt "${o.key}" from ${file} (wrong password or key name): ${(err as Error).name}`,
    );
  }
}

/**
 * The relayer account of a config: from the Hardhat keystore if one is configured, else
 * from the environment variable `relayer.privateKeyEnv` (default ZK402_RELAYER_KEY).
 * The key never leaves this function except inside the viem account.
 */
export async function loadRelayerAccount(c: ServiceConfig, env: EnvVars = process.env): Promise<PrivateKeyAccount> {
  let key: string | undefined;
  if (c.relayer.keystore) {
    const ks = c.relayer.keystore;
    const password = env[ks.passwordEnv];
    if (!password) throw new ZkPayError("invalid_argument", `set ${ks.passwordEnv} to the keystore password`);
    key = await readHardhatKeystore({ file: ks.path, key: ks.key, password });
  } else {
    key = env[c.relayer.privateKeyEnv];
    if (!key) {
      throw new ZkPayError(
        "invalid_argument",
        `no relayer key: set ${c.relayer.privateKeyEnv}, or relayer.keystore in the config (a Hardhat keystore)`,
      );
    }
  }
  const hex = (key.trim().startsWith("0x") ? key.trim() : `0x${key.trim()}`) as Hex;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex))
    throw new ZkPayError("invalid_argument", "the relayer key is not 32 bytes of hex");
  return privateKeyToAccount(hex);
}

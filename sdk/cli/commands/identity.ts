/**
 * `402zk identity`: the holder's side of attribute credentials (Verify & Pay). The wallet's
 * holder key is derived from its seed (`WalletKeys.attributeHolderKey`); credentials are
 * kept in `<wallet>/identity-credentials.json`. No chain, no deployment record.
 *
 *   402zk identity request --issuer KEY --nonce N [--out req.json]   the request to send the issuer
 *   402zk identity add cred.json                                     check the credential and store it
 *   402zk identity obtain URL [-H "Name: value"] [--issuer KEY]      the same over the issuer's HTTP endpoint
 *   402zk identity list [--show] [--json]
 *   402zk identity remove --issuer KEY --serial N
 */
import path from "node:path";

import type { Command } from "commander";

import { ZkPayError } from "../../core/errors.js";
import { issuerKeyFromString, issuerKeyToString, type AttributeCredential } from "../../core/identity/credential.js";
import { ymdOf } from "../../core/identity/rule.js";
import { WalletKeys } from "../../core/keys.js";
import { acceptCredential, credentialRequest, obtainCredential } from "../../identity/holder.js";
import { lockDirectory } from "../../node/dir-lock.js";
import { FileAttributeCredentialStore } from "../../node/identity-store.js";
import { collect } from "../args.js";
import type { CommandEnv } from "../command.js";
import { defaultWalletDir, loadOrCreateSeed, type GlobalOptions } from "../context.js";
import { info, out } from "../output.js";
import { requestInit } from "../request.js";
import { emitJson, readJsonFlag, serialFlag } from "./issuer.js";

/** The wallet folder of a command's global options (--wallet, else ~/.402zk/<network>). */
function walletDirOf(cmd: Command): { dir: string; g: GlobalOptions } {
  const g = cmd.optsWithGlobals() as GlobalOptions;
  return { dir: path.resolve(g.wallet ?? defaultWalletDir(g.network)), g };
}

/** The wallet's holder key (the seed is created, as by `402zk address`, if the folder has none). */
function holderKeyOf(dir: string) {
  const s = loadOrCreateSeed(dir);
  if (s.created) info(`created a new wallet seed in ${s.source} (mode 0600): back it up, it holds your private notes`);
  return WalletKeys.fromSeed(s.seed).attributeHolderKey();
}

/** Runs `fn` holding the wallet folder's lock (as every command that writes the wallet does). */
async function withWalletLock<T>(dir: string, g: GlobalOptions, fn: () => Promise<T>): Promise<T> {
  const lockTimeoutS = Number(g.lockTimeout ?? 120);
  if (!(Number.isFinite(lockTimeoutS) && lockTimeoutS >= 0)) {
    throw new ZkPayError("invalid_argument", "--lock-timeout must be a non-negative number of seconds");
  }
  const lock = await lockDirectory(dir, {
    timeoutMs: lockTimeoutS * 1000,
    onWait: (owner) => info(`waiting for another 402zk command using ${dir}${owner ? ` (pid ${owner.pid})` : ""}...`),
  });
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/** `--issuer`: an issuer public key string (what `402zk issuer init` printed). */
function issuerFlag(value: string) {
  try {
    return issuerKeyFromString(value.trim());
  } catch (err) {
    throw new ZkPayError(
      "invalid_argument",
      `--issuer must be an issuer public key (as 402zk issuer init prints it): ${err instanceof Error ? err.message : String(err)}`,
      undefined,
      { cause: err },
    );
  }
}

/** YYYYMMDD as YYYY-MM-DD. */
const isoDate = (ymd: number): string => {
  const s = String(ymd).padStart(8, "0");
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`;
};

/** Stores a checked credential in the wallet folder (under its lock) and reports it. */
async function store(credential: AttributeCredential, dir: string, g: GlobalOptions): Promise<void> {
  const credentials = new FileAttributeCredentialStore(dir);
  await withWalletLock(dir, g, () => credentials.add(credential));
  const expired = credential.claims.expiresAt < ymdOf(new Date());
  info(
    `stored credential serial ${credential.serial} of issuer ${issuerKeyToString(credential.issuer)} in ${credentials.file}` +
      (expired ? ` (warning: it expired on ${isoDate(credential.claims.expiresAt)})` : ""),
  );
  out(
    JSON.stringify({
      ok: true,
      issuer: issuerKeyToString(credential.issuer),
      serial: credential.serial,
      expiresAt: isoDate(credential.claims.expiresAt),
      expired,
    }),
  );
}

/** Registers `identity` and its subcommands: request, add, obtain, list, remove. */
export function register(program: Command, _env: CommandEnv): void {
  const identity = program
    .command("identity")
    .description(
      "identity credentials of this wallet (Verify & Pay): request one from an issuer and add it, or obtain it over HTTP; list, remove; kept in <wallet>/identity-credentials.json",
    );

  identity
    .command("request")
    .description("print the credential request to send an issuer (this wallet's holder key, signed for its nonce)")
    .requiredOption("--issuer <key>", "the issuer's public key (402zk issuer init prints it)")
    .requiredOption("--nonce <n>", "the issuer's nonce (402zk issuer nonce)")
    .option("--out <file>", "write the request JSON there instead of stdout")
    .action(async (o: { issuer: string; nonce: string; out?: string }, cmd: Command) => {
      const issuer = issuerFlag(o.issuer);
      if (!/^\d{1,78}$/.test(o.nonce.trim())) {
        throw new ZkPayError(
          "invalid_argument",
          `--nonce must be the decimal nonce the issuer gave (got "${o.nonce}")`,
        );
      }
      const holder = holderKeyOf(walletDirOf(cmd).dir);
      await emitJson(credentialRequest(holder, issuer, o.nonce.trim()), o.out, "credential request");
    });

  identity
    .command("add")
    .description("check a credential an issuer sent (signature, bound to this wallet's holder key) and store it")
    .argument("<file>", "the credential JSON (- for stdin)")
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const json = await readJsonFlag("<file>", file);
      const { dir, g } = walletDirOf(cmd);
      await store(acceptCredential(holderKeyOf(dir), json), dir, g);
    });

  identity
    .command("obtain")
    .description(
      "ask an issuer's HTTP endpoint (AttributeIssuer.serveIssuance) for a credential bound to this wallet's holder key, check it and store it",
    )
    .argument("<url>", "the issuer's issuance URL (it answers <url>/nonce and <url>/credentials)")
    .option("--issuer <key>", "the issuer key you expect: refused if the endpoint speaks for another")
    .option("-H, --header <header>", 'header "Name: value" for the issuer (its login), repeatable', collect, [])
    .action(async (url: string, o: { issuer?: string; header: string[] }, cmd: Command) => {
      const headers: Record<string, string> = {};
      new Headers(requestInit({ header: o.header }).headers).forEach((v, k) => (headers[k] = v));
      const issuer = o.issuer === undefined ? undefined : issuerFlag(o.issuer);
      const { dir, g } = walletDirOf(cmd);
      const credential = await obtainCredential(url, holderKeyOf(dir), { headers, ...(issuer ? { issuer } : {}) });
      await store(credential, dir, g);
    });

  identity
    .command("list")
    .description("list the stored credentials: issuer, serial, expiry (attributes only with --show)")
    .option("--show", "also print the attributes (birth date, country, flags)")
    .option("--json", "print JSON")
    .action(async (o: { show?: boolean; json?: boolean }, cmd: Command) => {
      const store = new FileAttributeCredentialStore(walletDirOf(cmd).dir);
      const today = ymdOf(new Date());
      const rows = (await store.list()).map((c) => ({
        issuer: issuerKeyToString(c.issuer),
        serial: c.serial,
        expiresAt: isoDate(c.claims.expiresAt),
        expired: c.claims.expiresAt < today,
        ...(o.show
          ? {
              birthDate: isoDate(c.claims.birthDate),
              country: c.claims.country,
              flags: `0x${c.claims.flags.toString(16)}`,
            }
          : {}),
      }));
      if (o.json) {
        out(JSON.stringify({ ok: true, file: store.file, credentials: rows }));
        return;
      }
      if (rows.length === 0) {
        out(`no identity credentials in ${store.file}`);
        return;
      }
      for (const r of rows) {
        const attrs = o.show ? `  born ${r.birthDate}  country ${r.country}  flags ${r.flags}` : "";
        out(`${r.issuer}  serial ${r.serial}  expires ${r.expiresAt}${r.expired ? " (expired)" : ""}${attrs}`);
      }
      info(`store ${store.file}`);
    });

  identity
    .command("remove")
    .description("remove a stored credential (by issuer and serial)")
    .requiredOption("--issuer <key>", "the credential's issuer public key")
    .requiredOption("--serial <n>", "the credential's serial")
    .action(async (o: { issuer: string; serial: string }, cmd: Command) => {
      const issuer = issuerFlag(o.issuer);
      const serial = serialFlag(o.serial);
      const { dir, g } = walletDirOf(cmd);
      const store = new FileAttributeCredentialStore(dir);
      const removed = await withWalletLock(dir, g, () => store.remove(issuer, serial));
      if (!removed) {
        throw new ZkPayError("invalid_argument", `no stored credential of issuer ${o.issuer} with serial ${serial}`);
      }
      info(`removed credential serial ${serial}`);
      out(JSON.stringify({ ok: true, issuer: issuerKeyToString(issuer), serial, removed }));
    });
}

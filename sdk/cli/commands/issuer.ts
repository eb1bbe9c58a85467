/**
 * `402zk issuer`: an identity issuer's offline file flow for attribute credentials (Verify &
 * Pay). Its key and books live in a directory (--dir); no chain, no wallet.
 *
 *   402zk issuer init --dir D                      prints the issuer public key
 *   402zk issuer nonce --dir D                     prints a single-use nonce for one holder
 *   402zk issuer issue --dir D --request req.json --birth-date 2000-01-31 --country 276 --expires 2030-01-01
 *   402zk issuer revoke --dir D --serial N
 *   402zk issuer revocations --dir D [--out list.json]
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

import type { Command } from "commander";

import { ZkPayError } from "../../core/errors.js";
import { credentialToJson, type AttributeClaims } from "../../core/identity/credential.js";
import { revocationListToJson } from "../../core/identity/revocation.js";
import { isValidYmd } from "../../core/identity/rule.js";
import { writeFileAtomic } from "../../node/file-store.js";
import { parseCredentialRequest } from "../../identity/holder.js";
import { AttributeIssuer, ISSUER_KEY_FILE } from "../../identity/issuer.js";
import type { CommandEnv } from "../command.js";
import { info, out } from "../output.js";

/**
 * A date flag as YYYYMMDD: `2000-01-31` or `20000131`, a real calendar date, else
 * `invalid_argument` naming the flag.
 *
 * @example
 * ymdFlag("--birth-date", "2000-01-31"); // 20000131
 */
export function ymdFlag(flag: string, value: string): number {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(value.trim());
  const n = m ? Number(`${m[1]}${m[2]}${m[3]}`) : NaN;
  if (!m || !isValidYmd(n)) {
    throw new ZkPayError("invalid_argument", `${flag} must be a date YYYY-MM-DD (got "${value}")`);
  }
  return n;
}

/**
 * `--country`: an ISO 3166-1 numeric code, 1..999 (276 Germany, 840 United States).
 *
 * @example
 * countryFlag("276"); // 276
 */
export function countryFlag(value: string): number {
  const v = value.trim();
  const n = /^\d{1,3}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= 999)) {
    throw new ZkPayError(
      "invalid_argument",
      `--country must be an ISO 3166-1 numeric code 1..999, e.g. 276 for Germany, 840 for the United States (got "${value}")`,
    );
  }
  return n;
}

/**
 * `--flags`: the issuer's bit field, decimal or 0x-hex, below 2^64.
 *
 * @example
 * flagsFlag("0x5"); // 5n
 */
export function flagsFlag(value: string): bigint {
  const v = value.trim();
  if (!/^(\d{1,20}|0x[0-9a-fA-F]{1,16})$/.test(v) || BigInt(v) >= 1n << 64n) {
    throw new ZkPayError(
      "invalid_argument",
      `--flags must be an integer below 2^64, decimal or 0x-hex (got "${value}")`,
    );
  }
  return BigInt(v);
}

/**
 * `--serial`: a credential serial, a non-negative integer.
 *
 * @example
 * serialFlag("7"); // 7
 */
export function serialFlag(value: string): number {
  const v = value.trim();
  if (!/^\d{1,10}$/.test(v)) {
    throw new ZkPayError(
      "invalid_argument",
      `--serial must be a credential serial, a non-negative integer (got "${value}")`,
    );
  }
  return Number(v);
}

/**
 * The JSON in file `file` given to `flag` (`-` reads stdin), or `invalid_argument`
 * naming the flag.
 *
 * @example
 * const req = await readJsonFlag("--request", "req.json");
 */
export async function readJsonFlag(flag: string, file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === "-" ? await readStdin() : await readFile(file, "utf8");
  } catch (err) {
    throw new ZkPayError(
      "invalid_argument",
      `${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      { file },
      { cause: err },
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ZkPayError("invalid_argument", `${flag}: ${file} is not JSON`, { file }, { cause: err });
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Prints `json` on stdout, or writes it (atomically) to `file` and says so on stderr.
 *
 * @example
 * await emitJson({ ok: true }, o.out, "credential");
 */
export async function emitJson(json: unknown, file: string | undefined, what: string): Promise<void> {
  const text = JSON.stringify(json, null, 2);
  if (file === undefined) {
    out(text);
    return;
  }
  await writeFileAtomic(path.resolve(file), [`${text}\n`]);
  info(`wrote the ${what} to ${file}`);
}

/** Registers `issuer` and its subcommands: init, nonce, issue, revoke, revocations. */
export function register(program: Command, _env: CommandEnv): void {
  const issuer = program
    .command("issuer")
    .description(
      "run an identity issuer of attribute credentials (Verify & Pay), offline: key and books in --dir; init, nonce, issue, revoke, revocations",
    );

  issuer
    .command("init")
    .description("create an issuer key in --dir (mode 0600, never overwritten) and print its public key")
    .requiredOption("--dir <dir>", "the issuer's directory (its key and books)")
    .action(async (o: { dir: string }) => {
      const i = await AttributeIssuer.init(o.dir);
      info(
        `created an issuer key in ${path.join(i.dir, ISSUER_KEY_FILE)} (mode 0600): back it up and keep it private; ` +
          "paid APIs list the public key below among their trusted issuers",
      );
      out(i.publicKeyString);
    });

  issuer
    .command("nonce")
    .description("hand out a single-use nonce for one credential request (402zk identity request --nonce N)")
    .requiredOption("--dir <dir>", "the issuer's directory")
    .action(async (o: { dir: string }) => {
      const i = await AttributeIssuer.open(o.dir);
      const nonce = await i.newNonce();
      info(`give the holder this nonce and the issuer key ${i.publicKeyString}`);
      out(nonce.toString());
    });

  issuer
    .command("issue")
    .description(
      "sign a credential for a holder's request (402zk identity request): checks its nonce and proof of possession",
    )
    .requiredOption("--dir <dir>", "the issuer's directory")
    .requiredOption("--request <file>", "the holder's request JSON (- for stdin)")
    .requiredOption("--birth-date <date>", "the holder's birth date, YYYY-MM-DD")
    .requiredOption("--country <code>", "the holder's country, ISO 3166-1 numeric (276 Germany, 840 United States)")
    .requiredOption("--expires <date>", "the last day the credential is valid, YYYY-MM-DD")
    .option("--flags <bits>", "issuer-defined flags, decimal or 0x-hex below 2^64", "0")
    .option("--out <file>", "write the credential JSON there instead of stdout")
    .action(
      async (o: {
        dir: string;
        request: string;
        birthDate: string;
        country: string;
        expires: string;
        flags: string;
        out?: string;
      }) => {
        const claims: AttributeClaims = {
          birthDate: ymdFlag("--birth-date", o.birthDate),
          country: countryFlag(o.country),
          expiresAt: ymdFlag("--expires", o.expires),
          flags: flagsFlag(o.flags),
        };
        let request;
        try {
          request = parseCredentialRequest(await readJsonFlag("--request", o.request));
        } catch (err) {
          if (err instanceof ZkPayError && !err.message.startsWith("--request")) {
            throw new ZkPayError(err.reason, `--request ${o.request}: ${err.message}`, err.details, { cause: err });
          }
          throw err;
        }
        const i = await AttributeIssuer.open(o.dir);
        const credential = await i.issue({ ...request, claims });
        info(`issued serial ${credential.serial}, valid until ${o.expires}`);
        await emitJson(credentialToJson(credential), o.out, "credential");
      },
    );

  issuer
    .command("revoke")
    .description("revoke an issued credential by serial (publish the list again: 402zk issuer revocations)")
    .requiredOption("--dir <dir>", "the issuer's directory")
    .requiredOption("--serial <n>", "the credential's serial")
    .action(async (o: { dir: string; serial: string }) => {
      const serial = serialFlag(o.serial);
      const i = await AttributeIssuer.open(o.dir);
      const revoked = await i.revoke(serial);
      const list = await i.revocationList();
      info(revoked ? `revoked serial ${serial}` : `serial ${serial} was already revoked`);
      out(JSON.stringify({ serial, revoked, alreadyRevoked: !revoked, root: list.root.toString() }));
    });

  issuer
    .command("revocations")
    .description("print (or --out) the revocation list paid APIs fetch: issuer, root, revoked serials")
    .requiredOption("--dir <dir>", "the issuer's directory")
    .option("--out <file>", "write the list there instead of stdout")
    .action(async (o: { dir: string; out?: string }) => {
      const i = await AttributeIssuer.open(o.dir);
      const list = await i.revocationList();
      await emitJson(revocationListToJson(list), o.out, "revocation list");
    });
}

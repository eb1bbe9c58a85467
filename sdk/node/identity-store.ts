import path from "node:path";

import { z } from "zod";

import { ZkPayError } from "../core/errors.js";
import {
  credentialFromJson,
  credentialToJson,
  issuerKeyFromString,
  type AttributeCredential,
} from "../core/identity/credential.js";
import { readJsonState, writeFileAtomic } from "./file-store.js";

/** The file name of a wallet's attribute credentials, beside its `notes.json` and `sessions.json`. */
export const IDENTITY_CREDENTIALS_FILE = "identity-credentials.json";

/** The file's form: `{ v: 1, credentials: [credential JSON (credentialToJson), ...] }`. */
const FileSchema = z.object({ v: z.literal(1), credentials: z.array(z.unknown()) });

/**
 * Parses the contents of an identity-credentials file: every entry must be a valid
 * credential (`note_store_corrupt` naming the first bad one otherwise).
 *
 * @example
 * const credentials = parseIdentityCredentialsFile(JSON.parse(text));
 */
export function parseIdentityCredentialsFile(raw: unknown): AttributeCredential[] {
  const r = FileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ZkPayError(
      "note_store_corrupt",
      `identity credentials: ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`,
    );
  }
  return r.data.credentials.map((c, i) => {
    try {
      return credentialFromJson(c);
    } catch (err) {
      throw new ZkPayError(
        "note_store_corrupt",
        `identity credentials: credentials.${i}: ${err instanceof Error ? err.message : String(err)}`,
        undefined,
        { cause: err },
      );
    }
  });
}

/** Issuer key and serial: what identifies a credential (an issuer never repeats a serial). */
const keyOf = (issuer: AttributeCredential["issuer"] | string, serial: number) => {
  const p = typeof issuer === "string" ? issuerKeyFromString(issuer) : issuer;
  return `${p[0]}:${p[1]}#${serial}`;
};

/**
 * Crash-safe file store of a holder's attribute credentials (Node), an
 * `AttributeCredentialStore` of 402zk/identity: `<walletDir>/identity-credentials.json`,
 * beside the wallet's notes. Every change re-reads the file and replaces it atomically
 * (`writeFileAtomic`: temporary file, fsync, rename, fsync of the folder), changes are
 * serialised within the process, so a crash at any point leaves the old or the new list,
 * never a torn one (a stray temporary file is ignored).
 *
 * The file is not wallet state: notes.json is a cache rebuilt from the seed and the
 * chain, but a credential is on no chain. Back it up with the seed. Two processes writing
 * the same folder should hold the wallet lock (`lockDirectory`), as the CLI does.
 *
 * @example
 * const store = new FileAttributeCredentialStore("~/.402zk/base");
 * await store.add(acceptCredential(keys.attributeHolderKey(), json));
 */
export class FileAttributeCredentialStore {
  /** The JSON file the credentials live in. */
  readonly file: string;
  #queue: Promise<unknown> = Promise.resolve();

  /** `walletDir`: the wallet folder; the credentials go to `<walletDir>/identity-credentials.json`. */
  constructor(walletDir: string) {
    this.file = path.join(path.resolve(walletDir), IDENTITY_CREDENTIALS_FILE);
  }

  /** Every stored credential, in the order they were added. */
  async list(): Promise<AttributeCredential[]> {
    return (await readJsonState(this.file, parseIdentityCredentialsFile)) ?? [];
  }

  /** Stores `credential`, replacing one of the same issuer and serial (in place). */
  add(credential: AttributeCredential): Promise<void> {
    const k = keyOf(credential.issuer, credential.serial);
    return this.#update((list) => {
      const i = list.findIndex((c) => keyOf(c.issuer, c.serial) === k);
      return i < 0 ? [...list, credential] : list.map((c, j) => (j === i ? credential : c));
    }).then(() => undefined);
  }

  /** Removes the credential of `issuer` (point or key string) with `serial`; false if none. */
  remove(issuer: AttributeCredential["issuer"] | string, serial: number): Promise<boolean> {
    const k = keyOf(issuer, serial);
    return this.#update((list) => {
      const next = list.filter((c) => keyOf(c.issuer, c.serial) !== k);
      return next.length === list.length ? list : next;
    });
  }

  /** Read, change, write atomically; serialised so two changes never lose one another. Resolves whether it changed. */
  #update(change: (list: AttributeCredential[]) => readonly AttributeCredential[]): Promise<boolean> {
    const next = this.#queue.then(async () => {
      const list = await this.list();
      const changed = change(list);
      if (changed === list) return false;
      const body = { v: 1, credentials: changed.map((c) => credentialToJson(c)) };
      await writeFileAtomic(this.file, [JSON.stringify(body, null, 2)]);
      return true;
    });
    this.#queue = next.catch(() => {});
    return next;
  }
}

/**
 * Where a holder keeps its attribute credentials. Not part of the wallet state: that is a
 * cache rebuilt from the seed and the chain, while a credential is on no chain (lose it
 * and only its issuer can give another). Node: `FileAttributeCredentialStore`
 * (`<wallet>/identity-credentials.json`); browser-safe memory store here.
 */
import {
  credentialFromJson,
  credentialToJson,
  issuerKeyFromString,
  type AttributeCredential,
} from "../core/identity/credential.js";

/** A holder's credentials: list, add (replacing the one with the same issuer and serial), remove. */
export interface AttributeCredentialStore {
  /** Every stored credential, in the order they were added. */
  list(): Promise<AttributeCredential[]>;
  /** Stores `credential`; one with the same issuer and serial is replaced (adding twice is harmless). */
  add(credential: AttributeCredential): Promise<void>;
  /** Removes the credential of `issuer` (a point or its `issuerKeyToString` form) with `serial`; false if none. */
  remove(issuer: AttributeCredential["issuer"] | string, serial: number): Promise<boolean>;
}

/**
 * Identity of a stored credential: its issuer's key and its serial (an issuer never gives
 * two credentials the same serial). `issuer` is a point or its `issuerKeyToString` form.
 *
 * @example
 * credentialKey(c.issuer, c.serial) === credentialKey(issuerKeyToString(c.issuer), c.serial); // true
 */
export function credentialKey(issuer: AttributeCredential["issuer"] | string, serial: number): string {
  const p = typeof issuer === "string" ? issuerKeyFromString(issuer) : issuer;
  return `${p[0]}:${p[1]}#${serial}`;
}

/**
 * An in-memory {@link AttributeCredentialStore} (tests, short-lived agents, browsers that
 * persist elsewhere). `list` returns copies: a caller mutating one never changes the store.
 *
 * @example
 * const store = new MemoryAttributeCredentialStore();
 * await store.add(acceptCredential(holder, json));
 * (await store.list()).length; // 1
 */
export class MemoryAttributeCredentialStore implements AttributeCredentialStore {
  #credentials: AttributeCredential[] = [];

  list(): Promise<AttributeCredential[]> {
    return Promise.resolve(structuredClone(this.#credentials));
  }

  add(credential: AttributeCredential): Promise<void> {
    // Through the JSON form: a malformed credential is refused here, as the file store
    // refuses it, and the store keeps its own copy.
    const copy = credentialFromJson(credentialToJson(credential));
    const k = credentialKey(copy.issuer, copy.serial);
    const i = this.#credentials.findIndex((c) => credentialKey(c.issuer, c.serial) === k);
    if (i < 0) this.#credentials.push(copy);
    else this.#credentials[i] = copy;
    return Promise.resolve();
  }

  remove(issuer: AttributeCredential["issuer"] | string, serial: number): Promise<boolean> {
    const k = credentialKey(issuer, serial);
    const before = this.#credentials.length;
    this.#credentials = this.#credentials.filter((c) => credentialKey(c.issuer, c.serial) !== k);
    return Promise.resolve(this.#credentials.length !== before);
  }
}

import { expect } from "chai";
import { bech32m } from "@scure/base";
import { hexToBytes } from "viem";

import { isZkPayError } from "../../sdk/core/errors.js";
import { SNARK_SCALAR_FIELD, toBytes32 } from "../../sdk/core/field.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import {
  encodeShieldedAddress,
  encodeViewingKey,
  isShieldedAddress,
  parseShieldedAddress,
  parseViewingKey,
} from "../../sdk/core/shielded-address.js";

// Shielded addresses (spec #19 §3): bech32m "zk402", data 0x00 || ownerKey (32 BE) || ek (32).

const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const keys = WalletKeys.fromSeed(`0x${"5a".repeat(32)}`);
const ADDRESS = keys.address();

/** A bech32m string with a valid checksum over arbitrary data (to reach the checks after it). */
function raw(prefix: string, data: Uint8Array): string {
  return bech32m.encode(prefix, bech32m.toWords(data), 300);
}
function data(version: number, owner: bigint, ek: Uint8Array, extra = 0): Uint8Array {
  const out = new Uint8Array(65 + extra);
  out[0] = version;
  out.set(hexToBytes(toBytes32(owner)), 1);
  out.set(ek, 33);
  return out;
}

/** Asserts `f` throws invalid_shielded_address naming `problem`. */
function refused(f: () => unknown, problem: string): void {
  try {
    f();
  } catch (err) {
    expect(isZkPayError(err, "invalid_shielded_address"), String(err)).to.equal(true);
    expect((err as { details: { problem: string } }).details.problem).to.equal(problem);
    return;
  }
  expect.fail(`accepted (expected a ${problem} refusal)`);
}

describe("shielded address (bech32m zk402)", function () {
  it("round-trips a wallet's keys, is zk4021..., and is what WalletKeys.address() gives", function () {
    expect(ADDRESS.startsWith("zk4021")).to.equal(true);
    expect(ADDRESS).to.have.length(116);
    const a = parseShieldedAddress(ADDRESS);
    expect(a.ownerKey).to.equal(keys.ownerKey);
    expect(a.encryptionKey).to.deep.equal(keys.encryptionKey);
    expect(encodeShieldedAddress(a)).to.equal(ADDRESS);
    expect(isShieldedAddress(ADDRESS)).to.equal(true);
  });

  it("round-trips edge keys: owner 0 and p - 1, encryption key all 0xff", function () {
    for (const ownerKey of [0n, 1n, SNARK_SCALAR_FIELD - 1n]) {
      const encryptionKey = new Uint8Array(32).fill(0xff);
      const a = parseShieldedAddress(encodeShieldedAddress({ ownerKey, encryptionKey }));
      expect(a.ownerKey).to.equal(ownerKey);
      expect(a.encryptionKey).to.deep.equal(encryptionKey);
    }
  });

  it("accepts the all-upper-case form (bech32 allows one case) and refuses a mixed case", function () {
    expect(parseShieldedAddress(ADDRESS.toUpperCase()).ownerKey).to.equal(keys.ownerKey);
    const mixed = ADDRESS.slice(0, 20) + ADDRESS.slice(20).toUpperCase();
    expect(isShieldedAddress(mixed)).to.equal(false);
    refused(() => parseShieldedAddress(mixed), "checksum");
  });

  it("refuses another prefix, including a viewing key and a payee's EVM address", function () {
    const d = data(0, keys.ownerKey, keys.encryptionKey);
    refused(() => parseShieldedAddress(raw("zk403", d)), "prefix");
    refused(() => parseShieldedAddress(raw("zk402view", d)), "prefix");
    refused(() => parseShieldedAddress(keys.viewingKeyString()), "prefix");
    refused(() => parseShieldedAddress("0x000000000000000000000000000000000000dEaD"), "prefix");
    refused(() => parseShieldedAddress(""), "prefix");
    refused(() => parseShieldedAddress(ADDRESS.slice(1)), "prefix");
  });

  it("refuses every single flipped character of the data and checksum (checksum)", function () {
    const sep = ADDRESS.lastIndexOf("1");
    let n = 0;
    for (let i = sep + 1; i < ADDRESS.length; i++) {
      const c = ADDRESS[i]!;
      const other = CHARSET[(CHARSET.indexOf(c) + 1 + (i % 31)) % 32]!;
      expect(other).to.not.equal(c);
      const bad = ADDRESS.slice(0, i) + other + ADDRESS.slice(i + 1);
      refused(() => parseShieldedAddress(bad), "checksum");
      expect(isShieldedAddress(bad)).to.equal(false);
      n++;
    }
    expect(n).to.equal(110);
  });

  it("refuses a dropped, an added and a swapped character, and a character outside the alphabet", function () {
    refused(() => parseShieldedAddress(ADDRESS.slice(0, -1)), "checksum");
    refused(() => parseShieldedAddress(ADDRESS + "q"), "checksum");
    const i = ADDRESS.length - 20;
    const a = ADDRESS[i]!;
    const b = ADDRESS[i + 1]!;
    if (a !== b) refused(() => parseShieldedAddress(ADDRESS.slice(0, i) + b + a + ADDRESS.slice(i + 2)), "checksum");
    refused(() => parseShieldedAddress(ADDRESS.slice(0, 30) + "b" + ADDRESS.slice(31)), "checksum"); // "b" is not bech32
  });

  it("refuses a data length other than 65 bytes even with a valid checksum (length)", function () {
    refused(
      () => parseShieldedAddress(raw("zk402", data(0, keys.ownerKey, keys.encryptionKey).slice(0, 64))),
      "length",
    );
    refused(() => parseShieldedAddress(raw("zk402", data(0, keys.ownerKey, keys.encryptionKey, 1))), "length");
    refused(() => parseShieldedAddress(raw("zk402", new Uint8Array(0))), "length");
    refused(() => parseShieldedAddress(`zk4021${"q".repeat(300)}`), "length");
  });

  it("refuses another version byte (version)", function () {
    for (const v of [1, 0x80, 0xff]) {
      refused(() => parseShieldedAddress(raw("zk402", data(v, keys.ownerKey, keys.encryptionKey))), "version");
    }
  });

  it("refuses an owner key not below the field order (ownerKey)", function () {
    for (const owner of [SNARK_SCALAR_FIELD, SNARK_SCALAR_FIELD + 1n, (1n << 256n) - 1n]) {
      refused(() => parseShieldedAddress(raw("zk402", data(0, owner, keys.encryptionKey))), "ownerKey");
    }
  });

  it("refuses a non-string without crashing; isShieldedAddress never throws", function () {
    for (const x of [undefined, null, 42, {}, ["zk402"]]) {
      refused(() => parseShieldedAddress(x as unknown as string), "type");
      expect(isShieldedAddress(x)).to.equal(false);
    }
  });

  it("encodeShieldedAddress refuses an owner key outside the field and a key of the wrong size", function () {
    expect(() => encodeShieldedAddress({ ownerKey: SNARK_SCALAR_FIELD, encryptionKey: keys.encryptionKey })).to.throw(
      /field element/,
    );
    expect(() => encodeShieldedAddress({ ownerKey: 1n, encryptionKey: new Uint8Array(31) })).to.throw(/32 bytes/);
  });
});

describe("viewing key string (bech32m zk402view)", function () {
  it("round-trips a wallet's viewing key and owner key", function () {
    const s = keys.viewingKeyString();
    expect(s.startsWith("zk402view1")).to.equal(true);
    const v = parseViewingKey(s);
    expect(v.viewingKey).to.deep.equal(keys.viewingKey());
    expect(v.ownerKey).to.equal(keys.ownerKey);
    expect(encodeViewingKey(v)).to.equal(s);
  });

  it("refuses an address, a flipped character and another version with invalid_argument, never echoing the key", function () {
    const s = keys.viewingKeyString();
    const cases = [
      ADDRESS,
      s.slice(0, 40) + (s[40] === "q" ? "p" : "q") + s.slice(41),
      raw("zk402view", data(1, keys.ownerKey, keys.viewingKey())),
      s.slice(10), // the data part alone: no prefix
    ];
    for (const bad of cases) {
      try {
        parseViewingKey(bad);
        expect.fail("accepted");
      } catch (err) {
        expect(isZkPayError(err, "invalid_argument"), String(err)).to.equal(true);
        expect((err as Error).message).to.not.include(s.slice(12, 30));
      }
    }
  });
});

import { hkdfSync } from "node:crypto";

import { expect } from "chai";
import fc from "fast-check";
import { x25519 } from "@noble/curves/ed25519.js";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { bytesToHex, hexToBytes, type Hex } from "viem";

import { isZkPayError } from "../../sdk/core/errors.js";
import { SNARK_SCALAR_FIELD, toBytes32 } from "../../sdk/core/field.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import {
  decryptNote,
  encryptNote,
  PAYEE_MEMO_LENGTH,
  type PayeeNotePlaintext,
} from "../../sdk/core/note-encryption.js";
import { nodeX25519 } from "../../sdk/node/x25519.js";

// Payee memo (spec #19 §4): 0x01 || viewTag (2) || epk (32) || nonce (24) || XChaCha20-Poly1305(112 + 16).

const payee = WalletKeys.fromSeed(`0x${"a1".repeat(32)}`);
const other = WalletKeys.fromSeed(`0x${"b2".repeat(32)}`);
const COND = `0x${"c3".repeat(32)}` as Hex;
const NOTE: PayeeNotePlaintext = {
  value: (1n << 128n) - 1n,
  blinding: SNARK_SCALAR_FIELD - 1n,
  owner: payee.ownerKey,
  conditionHash: COND,
};
const INFO = Buffer.from("402zk/note/v1");

/**
 * The memo's layout decrypted with independent code: node:crypto's X25519 and HKDF (not
 * noble's), noble's XChaCha20-Poly1305 (node:crypto has no XChaCha). Fails if the SDK's
 * HKDF inputs, offsets or associated data drift from the spec.
 */
function referenceDecrypt(vk: Uint8Array, ek: Uint8Array, memo: Hex): Uint8Array {
  const b = hexToBytes(memo);
  const epk = b.subarray(3, 35);
  const s = nodeX25519(vk, epk);
  const okm = new Uint8Array(hkdfSync("sha256", s, Buffer.concat([epk, ek]), INFO, 34));
  expect(bytesToHex(okm.subarray(0, 2))).to.equal(bytesToHex(b.subarray(1, 3)), "view tag");
  return xchacha20poly1305(okm.subarray(2), b.subarray(35, 59), new Uint8Array([1, ...epk])).decrypt(b.subarray(59));
}

/** A memo in the spec's format over an arbitrary 112-byte plaintext (independent of encryptNote). */
function referenceEncrypt(ek: Uint8Array, plaintext: Uint8Array, version = 1): Hex {
  const esk = x25519.utils.randomSecretKey();
  const epk = x25519.getPublicKey(esk);
  const s = nodeX25519(esk, ek);
  const okm = new Uint8Array(hkdfSync("sha256", s, Buffer.concat([epk, ek]), INFO, 34));
  const nonce = new Uint8Array(24).fill(7);
  const ct = xchacha20poly1305(okm.subarray(2), nonce, new Uint8Array([version, ...epk])).encrypt(plaintext);
  return bytesToHex(new Uint8Array([version, ...okm.subarray(0, 2), ...epk, ...nonce, ...ct]));
}

function plaintextOf(n: { value: bigint; blinding: bigint; owner: bigint; conditionHash: Hex }): Uint8Array {
  return new Uint8Array([
    ...hexToBytes(toBytes32(n.value)).subarray(16),
    ...hexToBytes(toBytes32(n.blinding)),
    ...hexToBytes(toBytes32(n.owner)),
    ...hexToBytes(n.conditionHash),
  ]);
}

function flipByte(memo: Hex, i: number, mask = 0x01): Hex {
  const b = hexToBytes(memo);
  b[i] = b[i]! ^ mask;
  return bytesToHex(b);
}

describe("payee note encryption", function () {
  this.timeout(120_000);
  const memo = encryptNote(payee.encryptionKey, NOTE);

  it("is 187 bytes and round-trips with the noble default and with nodeX25519", function () {
    expect(PAYEE_MEMO_LENGTH).to.equal(187);
    expect(hexToBytes(memo)).to.have.length(187);
    expect(memo.slice(0, 4)).to.equal("0x01");
    expect(decryptNote(payee.viewingKey(), memo)).to.deep.equal(NOTE);
    expect(decryptNote(payee.viewingKey(), memo, nodeX25519)).to.deep.equal(NOTE);
  });

  it("matches the spec's layout, decrypted with independent code (node:crypto X25519 + HKDF)", function () {
    expect(referenceDecrypt(payee.viewingKey(), payee.encryptionKey, memo)).to.deep.equal(plaintextOf(NOTE));
    // And the other way: a memo built by the reference decrypts with the SDK.
    const n = { value: 12_345n, blinding: 99n, owner: 7n, conditionHash: COND };
    expect(decryptNote(payee.viewingKey(), referenceEncrypt(payee.encryptionKey, plaintextOf(n)))).to.deep.equal(n);
  });

  it("uses fresh randomness: two encryptions of one note share no ephemeral key, nonce or ciphertext", function () {
    const a = hexToBytes(encryptNote(payee.encryptionKey, NOTE));
    const b = hexToBytes(encryptNote(payee.encryptionKey, NOTE));
    expect(bytesToHex(a.subarray(3, 35))).to.not.equal(bytesToHex(b.subarray(3, 35)));
    expect(bytesToHex(a.subarray(35, 59))).to.not.equal(bytesToHex(b.subarray(35, 59)));
    expect(bytesToHex(a.subarray(59))).to.not.equal(bytesToHex(b.subarray(59)));
  });

  it("does not decrypt with another wallet's key, nor with the owner key or the encryption key", function () {
    expect(decryptNote(other.viewingKey(), memo)).to.equal(undefined);
    expect(decryptNote(other.viewingKey(), memo, nodeX25519)).to.equal(undefined);
    expect(decryptNote(payee.encryptionKey, memo)).to.equal(undefined);
    expect(decryptNote(hexToBytes(toBytes32(payee.ownerKey)), memo)).to.equal(undefined);
  });

  it("refuses a truncated or extended memo, another version, and non-hex input (undefined)", function () {
    const vk = payee.viewingKey();
    for (const m of [
      memo.slice(0, -2),
      memo.slice(0, -32),
      `${memo}00`,
      `${memo}${"00".repeat(64)}`,
      "0x",
      memo.slice(2),
      `0x02${memo.slice(4)}`,
      `0x00${memo.slice(4)}`,
      `0x${"zz".repeat(187)}`,
      memo.toUpperCase(),
      `${memo.slice(0, -1)}`,
    ]) {
      expect(decryptNote(vk, m as Hex), m.slice(0, 12)).to.equal(undefined);
    }
    // A memo authentic under version 2 (the version is in the AEAD's data) is still refused.
    const v2 = referenceEncrypt(payee.encryptionKey, plaintextOf(NOTE), 2);
    expect(decryptNote(vk, v2)).to.equal(undefined);
    expect(decryptNote(vk, `0x01${v2.slice(4)}` as Hex)).to.equal(undefined);
  });

  it("refuses a flipped bit in every byte: version, view tag, epk, nonce, ciphertext and tag (undefined)", function () {
    const vk = payee.viewingKey();
    for (let i = 0; i < PAYEE_MEMO_LENGTH; i++) {
      for (const mask of [0x01, 0x80]) {
        const bad = flipByte(memo, i, mask);
        // Flipping the top bit of the epk's last byte gives the same X25519 point (RFC 7748
        // masks it), but the AEAD's associated data and the HKDF salt still differ.
        expect(decryptNote(vk, bad, nodeX25519), `byte ${i} mask ${mask}`).to.equal(undefined);
      }
    }
    // A sample with the noble default too (1 ms each).
    for (const i of [0, 1, 2, 3, 34, 35, 58, 59, 100, 170, 186]) {
      expect(decryptNote(vk, flipByte(memo, i)), `byte ${i}`).to.equal(undefined);
    }
  });

  it("refuses an authentic plaintext whose blinding or owner is not a field element", function () {
    const vk = payee.viewingKey();
    for (const n of [
      { ...NOTE, blinding: SNARK_SCALAR_FIELD },
      { ...NOTE, owner: (1n << 256n) - 1n },
    ]) {
      const m = referenceEncrypt(payee.encryptionKey, plaintextOf(n));
      expect(referenceDecrypt(vk, payee.encryptionKey, m)).to.deep.equal(plaintextOf(n)); // authentic
      expect(decryptNote(vk, m)).to.equal(undefined);
    }
  });

  it("returns undefined (never throws) for low-order ephemeral keys, with both X25519 functions", function () {
    const vk = payee.viewingKey();
    const b = hexToBytes(memo);
    // u = 0 and u = 1 are low-order points: the shared secret is all zeros.
    for (const u of [0n, 1n]) {
      b.set(hexToBytes(toBytes32(u)).reverse(), 3);
      const m = bytesToHex(b);
      expect(decryptNote(vk, m)).to.equal(undefined);
      expect(decryptNote(vk, m, nodeX25519)).to.equal(undefined);
    }
    // A throwing X25519 function, and one returning garbage, are contained too.
    expect(
      decryptNote(vk, memo, () => {
        throw new Error("boom");
      }),
    ).to.equal(undefined);
    expect(decryptNote(vk, memo, () => new Uint8Array(3))).to.equal(undefined);
    expect(decryptNote(new Uint8Array(31), memo)).to.equal(undefined);
  });

  it("encryptNote refuses out-of-range openings and unusable encryption keys with typed errors", function () {
    const ek = payee.encryptionKey;
    const bad: [Partial<PayeeNotePlaintext>, string][] = [
      [{ value: 1n << 128n }, "invalid_argument"],
      [{ value: -1n }, "invalid_argument"],
      [{ blinding: SNARK_SCALAR_FIELD }, "invalid_argument"],
      [{ owner: -1n }, "invalid_argument"],
      [{ conditionHash: "0x1234" as Hex }, "invalid_argument"],
    ];
    for (const [patch, reason] of bad) {
      expect(() => encryptNote(ek, { ...NOTE, ...patch }))
        .to.throw()
        .that.satisfies((e: unknown) => isZkPayError(e, reason as "invalid_argument"));
    }
    for (const k of [new Uint8Array(32), hexToBytes(toBytes32(1n)).reverse(), new Uint8Array(31)]) {
      expect(() => encryptNote(k, NOTE))
        .to.throw()
        .that.satisfies((e: unknown) => isZkPayError(e, "invalid_shielded_address"));
    }
  });

  it("noble and nodeX25519 give the same shared secret on random keys, canonical or not (property)", function () {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (sk, pk) => {
          let noble: Uint8Array | Error;
          let node: Uint8Array | Error;
          try {
            noble = x25519.getSharedSecret(sk, pk);
          } catch (e) {
            noble = e as Error;
          }
          try {
            node = nodeX25519(sk, pk);
          } catch (e) {
            node = e as Error;
          }
          // Both refuse the same (low-order) keys, or both agree on the bytes.
          expect(noble instanceof Error).to.equal(node instanceof Error);
          if (!(noble instanceof Error)) expect(bytesToHex(node as Uint8Array)).to.equal(bytesToHex(noble));
        },
      ),
      { numRuns: 300, seed: 19 },
    );
    expect(bytesToHex(nodeX25519(payee.viewingKey(), x25519.GuBytes))).to.equal(bytesToHex(payee.encryptionKey));
  });

  it("decryptNote never throws, on any input (fuzz)", function () {
    const vk = payee.viewingKey();
    const base = hexToBytes(memo);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.uint8Array({ maxLength: 400 }).map((b) => bytesToHex(b)),
          // Mutations of a real memo: bytes overwritten at random positions.
          fc
            .array(fc.tuple(fc.nat({ max: PAYEE_MEMO_LENGTH - 1 }), fc.integer({ min: 0, max: 255 })), {
              minLength: 1,
              maxLength: 8,
            })
            .map((edits) => {
              const b = base.slice();
              for (const [i, v] of edits) b[i] = v;
              return bytesToHex(b);
            }),
          fc.anything(),
        ),
        fc.boolean(),
        (input, useNode) => {
          const out = decryptNote(vk, input as Hex, useNode ? nodeX25519 : undefined);
          // Only the untouched memo decrypts.
          if (out !== undefined) expect(input).to.equal(memo);
        },
      ),
      { numRuns: 400, seed: 1902 },
    );
  });
});

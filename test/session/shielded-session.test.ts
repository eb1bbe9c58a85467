import { expect } from "chai";
import type { Hex } from "viem";

import { WalletKeys } from "../../sdk/core/keys.js";
import { decryptNote, encryptNote } from "../../sdk/core/note-encryption.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { MemorySessionStore } from "../../sdk/session/store.js";
import { sessionApi, sessionClient } from "../helpers/session-env.js";
import { decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";

type Header = {
  accepted: { scheme: string; extra: { challenge: { id: string; exp: number; mac: string } } };
  payload: {
    settlement: string;
    proof: { payeeCommitment: string };
    payeeMemo?: Hex;
    terms: { conditionHash: Hex; payTo: string; amount: string };
    credential: { commitment: string };
  };
};

/**
 * Session credentials sold by a service paid at its shielded address (#19): the purchase
 * is a zk-shielded payment (payee and price hidden on chain), issuance opens the payee note
 * and checks the shielded receipt, and a recovery must show the same note.
 */
describe("sessions on a zk-shielded service", function () {
  let env: Env;
  let payee: WalletKeys;
  let api: Awaited<ReturnType<typeof sessionApi>>;

  before(async function () {
    env = await startEnv();
    payee = WalletKeys.fromSeed(WalletKeys.randomSeed());
    api = await sessionApi(env, { payTo: payee.address(), payee });
  });

  after(async function () {
    await api?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  it("buys a credential with a zk-shielded payment and presents it; recovery needs the payee note", async function () {
    const { wallet } = await env.payer(10, { deposit: 2_000_000n });
    const store = new MemorySessionStore();
    let purchase: Header | undefined;
    const record: typeof fetch = async (input, init) => {
      const req = new Request(input as RequestInfo, init);
      const sig = req.headers.get("PAYMENT-SIGNATURE");
      if (sig) purchase = decodeHeader<Header>(sig);
      return fetch(req);
    };
    const client = await sessionClient(wallet, {
      store,
      fetch: record,
      buy: (offers) => offers.find((o) => o.id === "basic"),
    });
    const res = await client.fetch(`${api.url}/data`);
    expect(res.status).to.equal(200);
    expect(purchase?.accepted.scheme).to.equal("zk-shielded");
    // Nothing public names the service or the price.
    expect(purchase!.payload.terms.payTo).to.match(/^0x0{40}$/);
    expect(purchase!.payload.terms.amount).to.equal("0");
    const stored = (await store.load())!.credentials[0]!;
    expect(stored).to.include({ tier: 1 });
    // Presented again from the stored credential: no payment.
    expect((await client.fetch(`${api.url}/data`)).status).to.equal(200);

    const recover = (body: Record<string, unknown>) =>
      fetch(`${api.url}/.well-known/402zk/sessions/recover`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          offerId: "basic",
          holderCommitment: stored.holderCommitment,
          receiptId: stored.receiptId,
          challenge: purchase!.accepted.extra.challenge,
          ...body,
        }),
      });
    const note = { payeeMemo: purchase!.payload.payeeMemo, payeeCommitment: purchase!.payload.proof.payeeCommitment };
    // With the purchase's note: the same credential again.
    const again = await recover(note);
    expect(again.status).to.equal(200);
    expect(await again.json()).to.include({ receiptId: stored.receiptId, holderCommitment: stored.holderCommitment });
    // Without it, or with a note for another key: refused (a payment to anyone else cannot be passed off).
    const without = await recover({});
    expect(without.status).to.equal(409);
    expect(await without.json()).to.have.property("error", "issuance_refused");
    const other = WalletKeys.fromSeed(WalletKeys.randomSeed());
    const foreign = encryptNote(other.encryptionKey, {
      value: 1_000_000n,
      owner: other.ownerKey,
      blinding: 7n,
      conditionHash: purchase!.payload.terms.conditionHash,
    });
    const stolen = await recover({ ...note, payeeMemo: foreign });
    expect(stolen.status).to.equal(409);
    expect(await stolen.json()).to.have.property("error", "issuance_refused");
    // The same note encrypted again opens just as well (ours, same commitment, same
    // condition) but is not the memo on chain: the receipt binds that memo (audit F2).
    const opened = decryptNote(payee.viewingKey(), note.payeeMemo!)!;
    const swapped = await recover({ ...note, payeeMemo: encryptNote(payee.encryptionKey, opened) });
    expect(swapped.status).to.equal(409);
    expect(await swapped.json()).to.deep.include({ error: "issuance_refused" });
  });
});

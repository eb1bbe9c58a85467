import { x402Client } from "@x402/core/client";
import type { PaymentPayloadContext, PaymentPayloadResult, PaymentRequirements } from "@x402/core/types";
import { wrapFetchWithPayment } from "@x402/fetch";
import { expect } from "chai";
import { type Hex } from "viem";

import { ZkShieldedClientScheme } from "../../sdk/client/scheme.js";
import { MemoryNoteStore } from "../../sdk/client/store.js";
import { PrivateWallet, type PreparedPayment } from "../../sdk/client/wallet.js";
import { facilitatorAbi } from "../../sdk/core/abi.js";
import { paymentContext } from "../../sdk/core/context.js";
import { proofStructOf, provePayment } from "../../sdk/core/circuits/payment.js";
import { toBytes32 } from "../../sdk/core/field.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { decryptNote, encryptNote } from "../../sdk/core/note-encryption.js";
import { notePosition } from "../../sdk/core/note.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { ReceiptChecker } from "../../sdk/core/receipts.js";
import { encodeShieldedAddress } from "../../sdk/core/shielded-address.js";
import { NoteTree } from "../../sdk/core/tree.js";
import type { ZkPaymentPayload } from "../../sdk/core/wire.js";
import { remoteApi, startService, type RunningService } from "../helpers/service.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";

type Settle = { success: boolean; transaction: string; errorReason?: string; extra?: { receiptId?: Hex } };
type Required = { error?: string; accepts: { scheme: string; payTo: string; amount: string }[] };
type Header = { x402Version: number; accepted: PaymentRequirements; payload: ZkPaymentPayload };

const PRICE = 10_000n;

/**
 * zk-shielded end to end (#19): the requirement names the API's shielded address, the
 * payment creates a private note for it (nothing public names payee or amount), and the
 * API opens the note with its viewing key before it verifies the proof, in both settlement
 * modes, through the 402zk facilitator service and in a payBatch beside zk-exact. Every
 * bad payee note is refused with its reason and nothing reaches the chain.
 */
describe("zk-shielded: payee and amount hidden, the API opens its note first", function () {
  let env: Env;
  let payeeSeed: Hex;
  let payeeKeys: WalletKeys;
  let api: Awaited<ReturnType<Env["api"]>>;
  let receipts: ReceiptChecker;
  /** The first paid request's payment (its payee note is replayed below). */
  let first: PreparedPayment;

  before(async function () {
    env = await startEnv();
    payeeSeed = WalletKeys.randomSeed();
    payeeKeys = WalletKeys.fromSeed(payeeSeed);
    api = await env.api({ payTo: payeeKeys.address(), payee: { keys: payeeKeys } });
    receipts = new ReceiptChecker({ publicClient: env.publicClient, facilitator: env.pool.facilitator });
  });

  after(async function () {
    await api?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  const isSpent = (nullifierHash: string | bigint) =>
    env.publicClient.readContract({
      address: env.pool.facilitator,
      abi: [
        {
          type: "function",
          name: "isSpent",
          stateMutability: "view",
          inputs: [{ type: "uint256" }],
          outputs: [{ type: "bool" }],
        },
      ] as const,
      functionName: "isSpent",
      args: [BigInt(nullifierHash)],
    });

  async function send(url: string, header: string) {
    const res = await fetch(url, { headers: { "PAYMENT-SIGNATURE": header } });
    const body = await res.text();
    return {
      status: res.status,
      error:
        decodeHeader<Required>(res.headers.get("PAYMENT-REQUIRED"))?.error ??
        decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))?.errorReason,
      body,
    };
  }

  /**
   * A real PAYMENT-SIGNATURE for `url`, captured unsent; `mangle` changes the requirement
   * the wallet pays (not the one the header echoes). The note is released afterwards.
   */
  async function craft(
    wallet: PrivateWallet,
    url: string,
    mangle: (r: PaymentRequirements) => PaymentRequirements = (r) => r,
  ): Promise<{ header: Header; prepared: PreparedPayment }> {
    let prepared: PreparedPayment | undefined;
    class Mangled extends ZkShieldedClientScheme {
      override createPaymentPayload(
        v: number,
        r: PaymentRequirements,
        c?: PaymentPayloadContext,
      ): Promise<PaymentPayloadResult> {
        return super.createPaymentPayload(v, mangle(r), c);
      }
    }
    const client = new x402Client().register(
      "eip155:*",
      new Mangled({ wallet, settlement: "server", onPrepared: (p) => (prepared = p) }),
    );
    client.setSpendControls(false);
    let sig: string | undefined;
    const grab: typeof fetch = async (input, init) => {
      const req = new Request(input as RequestInfo, init);
      sig = req.headers.get("PAYMENT-SIGNATURE") ?? undefined;
      return sig ? new Response("{}", { status: 599 }) : fetch(req);
    };
    await wrapFetchWithPayment(grab, client)(url);
    if (!sig || !prepared) throw new Error("no payment was prepared");
    await wallet.releasePayment(prepared);
    return { header: decodeHeader<Header>(sig)!, prepared };
  }

  const encode = (h: Header) => Buffer.from(JSON.stringify(h)).toString("base64");

  /**
   * Audit F2's griefing payer, client-settled: it proves a payment for `url` whose payee
   * memo A opens correctly for the API (captured, never sent), then proves the SAME note
   * with the same payee note and terms but another 187-byte memo B (encrypted to a key
   * that is not the API's, so the API's wallet, which finds notes only by decrypting
   * memos on chain, never finds the note), settles that with `pay` itself, and shows the
   * server the receipt of B with memo A. Returns that header and both memos.
   */
  async function memoSwapped(
    payer: Awaited<ReturnType<Env["payer"]>>,
    url: string,
  ): Promise<{ header: Header; shown: Hex; onChain: Hex }> {
    const { header, prepared } = await craft(payer.wallet, url);
    const note = payer.wallet.spendableNotes().find((n) => BigInt(n.nullifierHash) === prepared.proof.nullifierHash)!;
    const keys = WalletKeys.fromSeed(payer.seed);
    const stranger = WalletKeys.fromSeed(WalletKeys.randomSeed());
    const onChain = encryptNote(stranger.encryptionKey, {
      ...prepared.payee,
      conditionHash: prepared.terms.conditionHash,
    });
    expect(decryptNote(payeeKeys.viewingKey(), onChain), "memo B is not the API's").to.equal(undefined);
    // The pool's tree as the chain has it (the deposit committed), to prove against.
    await payer.wallet.commitPendingLeaves();
    const leaves = (
      await env.publicClient.getContractEvents({
        address: env.pool.facilitator,
        abi: facilitatorAbi,
        eventName: "LeafInserted",
        fromBlock: BigInt(env.pool.deploymentBlock),
        strict: true,
      })
    )
      .sort((a, b) => Number(a.args.leafIndex - b.args.leafIndex))
      .map((e) => e.args.commitment);
    const levels = Number(
      await env.publicClient.readContract({
        address: env.pool.facilitator,
        abi: facilitatorAbi,
        functionName: "treeLevels",
      }),
    );
    const tree = NoteTree.from(leaves, levels);
    const context = paymentContext({
      chainId: env.pool.chainId,
      facilitator: env.pool.facilitator,
      terms: prepared.terms,
      memo: prepared.memo,
      payeeMemo: onChain,
    });
    const result = await provePayment(
      {
        note: { value: BigInt(note.value), owner: BigInt(note.owner), blinding: BigInt(note.blinding) },
        spendingKey: keys.spendingKey(),
        position: notePosition(note.leafIndex, levels),
        path: tree.path(note.leafIndex),
        amount: prepared.terms.amount,
        fee: prepared.terms.fee,
        context,
        payee: prepared.payee,
        changeBlinding: keys.changeBlinding(BigInt(note.nullifierHash)),
      },
      env.artifacts,
    );
    // The same note, the same payee note: only the memo (and so the context) differs.
    expect(result.nullifierHash).to.equal(prepared.proof.nullifierHash);
    expect(result.payeeCommitment).to.equal(prepared.proof.payeeCommitment);
    const proof = proofStructOf(result);
    const transaction = await payer.walletClient.writeContract({
      address: env.pool.facilitator,
      abi: facilitatorAbi,
      functionName: "pay",
      args: [proof, prepared.terms, prepared.memo, onChain],
      account: payer.walletClient.account!,
      chain: payer.walletClient.chain,
    });
    const rc = await env.publicClient.waitForTransactionReceipt({ hash: transaction });
    expect(rc.status).to.equal("success");
    if (header.payload.settlement !== "server") throw new Error("server-settled expected");
    const { payeeMemo: shown, terms } = header.payload;
    const payload: ZkPaymentPayload = {
      settlement: "client",
      receiptId: toBytes32(result.nullifierHash),
      transaction,
      terms,
      payeeMemo: shown,
      payeeCommitment: result.payeeCommitment.toString(),
    };
    return { header: { ...header, payload }, shown: shown as Hex, onChain };
  }

  it("answers with a zk-shielded requirement: payTo is the shielded address, amount the price", async function () {
    const res = await fetch(`${api.url}/weather`);
    expect(res.status).to.equal(402);
    const required = decodeHeader<Required>(res.headers.get("PAYMENT-REQUIRED"))!;
    expect(required.accepts[0]).to.include({ scheme: "zk-shielded", payTo: payeeKeys.address(), amount: "10000" });
  });

  it("server-settled: a private note for the API, nothing public names payee or amount", async function () {
    const { wallet } = await env.payer(10, { deposit: 1_000_000n });
    const poolBefore = await env.system.token.balanceOf(env.pool.facilitator);
    const { fetch: paidFetch, sent, prepared } = env.payingFetch(wallet, "server");
    const res = await paidFetch(`${api.url}/weather`);
    expect(res.status).to.equal(200);
    const settle = decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))!;
    expect(settle.success).to.equal(true);
    const sig = decodeHeader<Header>(sent.at(-1)!.paymentSignature)!;
    expect(sig.accepted.scheme).to.equal("zk-shielded");
    if (sig.payload.settlement !== "server") throw new Error("server-settled expected");
    // Public terms pay nobody; the payee memo travels with the proof.
    expect(sig.payload.terms.payTo).to.match(/^0x0{40}$/);
    expect(sig.payload.terms.amount).to.equal("0");
    expect(sig.payload.payeeMemo).to.have.length(2 + 2 * 187);
    first = prepared.at(-1)!;
    expect(first.payee.value).to.equal(PRICE);
    // Nothing left the pool (no fee here): the price stays inside, in the payee's note.
    expect(await env.system.token.balanceOf(env.pool.facilitator)).to.equal(poolBefore);
    // The receipt binds the payee note's commitment and the condition: one eth_call.
    // The receipt binds the payee note's commitment, the condition and the payee memo: one eth_call.
    const expected = {
      id: settle.extra!.receiptId!,
      payeeCommitment: BigInt(sig.payload.proof.payeeCommitment),
      conditionHash: sig.payload.terms.conditionHash as Hex,
      payeeMemo: sig.payload.payeeMemo as Hex,
    };
    expect((await receipts.check(expected)).state).to.equal("paid");
    const wrong = await receipts.check({ ...expected, payeeCommitment: expected.payeeCommitment + 1n });
    expect(wrong.state).to.not.equal("paid");
    // The same note's opening encrypted again is another memo: not the one on chain.
    const again = encryptNote(payeeKeys.encryptionKey, { ...first.payee, conditionHash: expected.conditionHash });
    expect((await receipts.check({ ...expected, payeeMemo: again })).state).to.equal("mismatch");
    // A memo that is not hex is refused by name, before any call.
    await receipts.check({ ...expected, payeeMemo: "0xzz" as Hex }).then(
      () => expect.fail("a malformed memo was checked"),
      (err: { reason?: string }) => expect(err.reason).to.equal("invalid_argument"),
    );
  });

  it("the API's wallet, from its seed alone, finds the note it was paid", async function () {
    const wallet = await PrivateWallet.open({
      seed: payeeSeed,
      pool: env.pool,
      publicClient: env.publicClient,
      store: new MemoryNoteStore(),
      artifacts: env.artifacts,
      sync: { auto: false },
    });
    try {
      await wallet.sync();
      expect((await wallet.balances()).received).to.be.greaterThanOrEqual(PRICE);
    } finally {
      await wallet.close();
    }
  });

  it("client-settled: the payer submits pay itself; the API opens the note and checks the shielded receipt", async function () {
    const { wallet } = await env.payer(11, { deposit: 500_000n });
    const { fetch: paidFetch, sent } = env.payingFetch(wallet, "client");
    const res = await paidFetch(`${api.url}/weather`);
    expect(res.status).to.equal(200);
    expect(decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))!.success).to.equal(true);
    const sig = decodeHeader<Header>(sent.at(-1)!.paymentSignature)!;
    expect(sig.payload.settlement).to.equal("client");
    if (sig.payload.settlement !== "client") return;
    expect(sig.payload.payeeMemo).to.have.length(2 + 2 * 187);
    expect(sig.payload.payeeCommitment).to.match(/^\d+$/);
    expect(sig.payload.terms.amount).to.equal("0");
  });

  it("audit F2: a client-settled payer that shows memo A but settled memo B on chain is refused (receipt_mismatch), nothing served", async function () {
    const payer = await env.payer(17, { deposit: 200_000n });
    const { header, shown, onChain } = await memoSwapped(payer, `${api.url}/weather`);
    const served = api.served();
    const r = await send(`${api.url}/weather`, encode(header));
    expect(r.status, r.body).to.equal(402);
    expect(r.error).to.equal("receipt_mismatch");
    expect(r.body).to.not.contain("sunny");
    expect(api.served()).to.equal(served);
    // Memo A opens fine (the refusal is the receipt's): the chain has B, not A.
    const p = header.payload;
    if (p.settlement !== "client") throw new Error("client-settled expected");
    const expected = {
      id: p.receiptId as Hex,
      payeeCommitment: BigInt(p.payeeCommitment!),
      conditionHash: p.terms.conditionHash as Hex,
    };
    expect((await receipts.check({ ...expected, payeeMemo: shown })).state).to.equal("mismatch");
    expect((await receipts.check({ ...expected, payeeMemo: onChain })).state).to.equal("paid");
    // Showing memo B instead is refused before the receipt: it is not the API's.
    const withB = await send(`${api.url}/weather`, encode({ ...header, payload: { ...p, payeeMemo: onChain } }));
    expect(withB.status).to.equal(402);
    expect(withB.error).to.equal("payee_note_not_ours");
    expect(api.served()).to.equal(served);
  });

  describe("bad payee notes: refused with their reason before the proof, nothing settled", function () {
    let payer: Awaited<ReturnType<Env["payer"]>>;
    let base: { header: Header; prepared: PreparedPayment };
    const other = WalletKeys.fromSeed(WalletKeys.randomSeed());

    before(async function () {
      payer = await env.payer(12, { deposit: 1_000_000n });
      base = await craft(payer.wallet, `${api.url}/weather`);
    });

    async function refused(header: Header | string, reason: string) {
      const r = await send(`${api.url}/weather`, typeof header === "string" ? header : encode(header));
      expect(r.status, r.body).to.equal(402);
      expect(r.error).to.equal(reason);
      const p = (typeof header === "string" ? decodeHeader<Header>(header)! : header).payload;
      if (p.settlement === "server") expect(await isSpent(p.proof.nullifierHash)).to.equal(false);
      return r;
    }

    const withPayload = (h: Header, change: Record<string, unknown>): Header => ({
      ...h,
      payload: { ...h.payload, ...change } as ZkPaymentPayload,
    });

    it("an opening that is not the proof's payee output: payee_note_invalid", async function () {
      const conditionHash = base.header.payload.terms.conditionHash as Hex;
      // Ours, for this challenge, worth the price: but another blinding, so another commitment.
      const memo = encryptNote(payeeKeys.encryptionKey, {
        value: PRICE,
        owner: payeeKeys.ownerKey,
        blinding: 12345n,
        conditionHash,
      });
      await refused(withPayload(base.header, { payeeMemo: memo }), "payee_note_invalid");
    });

    it("malformed ciphertext: payee_note_invalid (bad version, short memo); a damaged one reads as not ours", async function () {
      if (base.header.payload.settlement !== "server") throw new Error("server-settled expected");
      const memo = base.header.payload.payeeMemo!;
      await refused(withPayload(base.header, { payeeMemo: `0x02${memo.slice(4)}` }), "payee_note_invalid");
      await refused(withPayload(base.header, { payeeMemo: memo.slice(0, 2 + 200) }), "payee_note_invalid");
      // A flipped ciphertext byte fails the AEAD: indistinguishable from another key's memo.
      const at = 2 + 2 * 100;
      const flipped = `${memo.slice(0, at)}${((Number.parseInt(memo.slice(at, at + 2), 16) ^ 1) & 0xff)
        .toString(16)
        .padStart(2, "0")}${memo.slice(at + 2)}`;
      await refused(withPayload(base.header, { payeeMemo: flipped }), "payee_note_not_ours");
    });

    it("worth less than the price: payee_note_underpaid", async function () {
      const { header } = await craft(payer.wallet, `${api.url}/weather`, (r) => ({
        ...r,
        amount: (PRICE - 1n).toString(),
      }));
      await refused(header, "payee_note_underpaid");
    });

    it("owned by another key (encrypted to ours): payee_note_not_ours", async function () {
      const payTo = encodeShieldedAddress({ ownerKey: other.ownerKey, encryptionKey: payeeKeys.encryptionKey });
      const { header } = await craft(payer.wallet, `${api.url}/weather`, (r) => ({ ...r, payTo }));
      await refused(header, "payee_note_not_ours");
    });

    it("encrypted to another key (owned by ours): payee_note_not_ours", async function () {
      const payTo = encodeShieldedAddress({ ownerKey: payeeKeys.ownerKey, encryptionKey: other.encryptionKey });
      const { header } = await craft(payer.wallet, `${api.url}/weather`, (r) => ({ ...r, payTo }));
      await refused(header, "payee_note_not_ours");
    });

    it("a payee commitment already received: payee_note_invalid", async function () {
      if (base.header.payload.settlement !== "server") throw new Error("server-settled expected");
      // The first paid request's note, re-encrypted for this challenge: it opens, matches
      // the commitment the payload names and is worth the price, but was received already.
      const conditionHash = base.header.payload.terms.conditionHash as Hex;
      const memo = encryptNote(payeeKeys.encryptionKey, { ...first.payee, conditionHash });
      const replay = withPayload(base.header, {
        payeeMemo: memo,
        proof: { ...base.header.payload.proof, payeeCommitment: first.proof.payeeCommitment.toString() },
      });
      // Were the dedupe missing, the proof (whose output is another note) would fail: invalid_proof.
      await refused(replay, "payee_note_invalid");
    });

    it("the untouched payment still pays (the refusals held no claim)", async function () {
      // The base header's note was released; its challenge was never claimed by a refusal.
      const r = await send(`${api.url}/weather`, encode(base.header));
      expect(r.status, r.body).to.equal(200);
    });
  });

  describe("through the 402zk facilitator service (it cannot decrypt: the API opens the note first)", function () {
    let service: RunningService;
    let remote: Awaited<ReturnType<typeof remoteApi>>;

    before(async function () {
      service = await startService(env, { relayerIndex: 5 });
      remote = await remoteApi(env, {
        facilitatorUrl: service.url,
        payTo: payeeKeys.address(),
        payee: { viewingKey: payeeKeys.viewingKeyString(), address: payeeKeys.address() },
      });
    });

    after(async function () {
      await remote?.close();
      await service?.close();
    });

    it("server-settled and client-settled paid requests", async function () {
      const { wallet } = await env.payer(13, { deposit: 500_000n });
      const server = await env.payingFetch(wallet, "server").fetch(`${remote.url}/weather`);
      expect(server.status).to.equal(200);
      const client = await env.payingFetch(wallet, "client").fetch(`${remote.url}/weather`);
      expect(client.status).to.equal(200);
      expect(remote.served()).to.equal(2);
    });

    it("audit F2 through the service: memo A shown, memo B settled: receipt_mismatch, nothing served", async function () {
      const payer = await env.payer(18, { deposit: 200_000n });
      const { header } = await memoSwapped(payer, `${remote.url}/weather`);
      const served = remote.served();
      const r = await send(`${remote.url}/weather`, encode(header));
      expect(r.status, r.body).to.equal(402);
      expect(r.error).to.equal("receipt_mismatch");
      expect(remote.served()).to.equal(served);
    });

    it("a note for another key is refused by the API before the service sees it", async function () {
      const { wallet } = await env.payer(14, { deposit: 200_000n });
      const other = WalletKeys.fromSeed(WalletKeys.randomSeed());
      const payTo = encodeShieldedAddress({ ownerKey: payeeKeys.ownerKey, encryptionKey: other.encryptionKey });
      const { header } = await craft(wallet, `${remote.url}/weather`, (r) => ({ ...r, payTo }));
      const r = await send(`${remote.url}/weather`, encode(header));
      expect(r.status).to.equal(402);
      expect(r.error).to.equal("payee_note_not_ours");
      if (header.payload.settlement === "server")
        expect(await isSpent(header.payload.proof.nullifierHash)).to.equal(false);
    });
  });

  it("batched: a zk-shielded and a zk-exact payment settle in one payBatch", async function () {
    const transparentPayee = account(3).address;
    const batched = await env.api({
      payTo: payeeKeys.address(),
      payee: { keys: payeeKeys },
      transparentPayTo: transparentPayee,
      // Two payments fill the batch (maxSize), whenever each finishes proving.
      batch: { windowMs: 60_000, maxSize: 2 },
      relayerIndex: 6,
    });
    try {
      const a = await env.payer(15, { deposit: 200_000n });
      const b = await env.payer(16, { deposit: 200_000n });
      const before = await env.system.token.balanceOf(transparentPayee);
      const [ra, rb] = await Promise.all([
        env.payingFetch(a.wallet, "server").fetch(`${batched.url}/weather`),
        env.payingFetch(b.wallet, "server").fetch(`${batched.url}/transparent`),
      ]);
      expect([ra.status, rb.status]).to.deep.equal([200, 200]);
      const sa = decodeHeader<Settle>(ra.headers.get("PAYMENT-RESPONSE"))!;
      const sb = decodeHeader<Settle>(rb.headers.get("PAYMENT-RESPONSE"))!;
      expect(sa.transaction).to.equal(sb.transaction);
      expect(batched.facilitatorScheme.batcher!.stats.batches).to.equal(1);
      // The transparent payee is paid in public; the shielded payment moved nothing.
      expect(await env.system.token.balanceOf(transparentPayee)).to.equal(before + PRICE);
    } finally {
      await batched.close();
    }
  });
});

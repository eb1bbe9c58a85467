import { expect } from "chai";
import type { Address, Hex } from "viem";

import { shutdownProver } from "../../sdk/core/prover.js";
import { account, decodeHeader, startEnv, type Env } from "../helpers/x402-env.js";

type Settle = {
  success: boolean;
  transaction: string;
  network: string;
  errorReason?: string;
  extra?: { receiptId?: string };
};
type Required = { error?: string; accepts: { scheme: string; extra: Record<string, unknown> }[] };

describe("x402 integration: official @x402 packages + zk-exact over real HTTP", function () {
  let env: Env;
  let payee: Address;
  let api: Awaited<ReturnType<Env["api"]>>;

  before(async function () {
    env = await startEnv();
    payee = account(3).address;
    api = await env.api({ payTo: payee });
  });

  after(async function () {
    await api?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  it("answers an unpaid request with a zk-exact 402 challenge", async function () {
    const res = await fetch(`${api.url}/weather`);
    expect(res.status).to.equal(402);
    const required = decodeHeader<Required>(res.headers.get("PAYMENT-REQUIRED"))!;
    expect(required.accepts[0]!.scheme).to.equal("zk-exact");
    const extra = required.accepts[0]!.extra;
    expect(extra.facilitator).to.equal(env.pool.facilitator);
    expect(extra).to.have.nested.property("challenge.mac");
    // Every 402 carries a fresh challenge.
    const again = decodeHeader<Required>((await fetch(`${api.url}/weather`)).headers.get("PAYMENT-REQUIRED"))!;
    expect((again.accepts[0]!.extra.challenge as { id: string }).id).to.not.equal(
      (extra.challenge as { id: string }).id,
    );
  });

  it("server-settled: proof in PAYMENT-SIGNATURE, facilitator submits pay, PAYMENT-RESPONSE carries the tx", async function () {
    const { wallet } = await env.payer(10, { deposit: 1_000_000n });
    const before = await env.system.token.balanceOf(payee);
    const { fetch: paidFetch } = env.payingFetch(wallet, "server");
    const res = await paidFetch(`${api.url}/weather`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.have.property("weather", "sunny");
    const settle = decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))!;
    expect(settle.success).to.equal(true);
    expect(settle.transaction).to.match(/^0x[0-9a-f]{64}$/);
    expect(settle.network).to.equal("eip155:31337");
    expect(await env.system.token.balanceOf(payee)).to.equal(before + 10_000n);
    // The wallet sees its spend and its change note after a sync.
    await wallet.sync();
    expect(wallet.balance()).to.equal(1_000_000n - 10_000n);
    // Pay again from the change note.
    const res2 = await paidFetch(`${api.url}/weather`);
    expect(res2.status).to.equal(200);
    await wallet.sync();
    expect(wallet.balance()).to.equal(1_000_000n - 20_000n);
  });

  it("client-settled: the payer submits pay itself and sends the receipt; the server checks it with one call", async function () {
    const { wallet } = await env.payer(11, { deposit: 500_000n });
    const before = await env.system.token.balanceOf(payee);
    const { fetch: paidFetch, sent } = env.payingFetch(wallet, "client");
    const res = await paidFetch(`${api.url}/weather`);
    expect(res.status).to.equal(200);
    const settle = decodeHeader<Settle>(res.headers.get("PAYMENT-RESPONSE"))!;
    expect(settle.success).to.equal(true);
    const sig = decodeHeader<{ payload: { settlement: string; receiptId: Hex } }>(sent.at(-1)!.paymentSignature)!;
    expect(sig.payload.settlement).to.equal("client");
    expect(settle.extra?.receiptId).to.equal(sig.payload.receiptId);
    expect(await env.system.token.balanceOf(payee)).to.equal(before + 10_000n);
    expect(wallet.balance()).to.equal(490_000n);
  });

  describe("attacks and bad input", function () {
    /** Pays once and returns the PAYMENT-SIGNATURE that was accepted. */
    async function paidHeader(i: number, mode: "server" | "client") {
      const { wallet } = await env.payer(i, { deposit: 300_000n });
      const pf = env.payingFetch(wallet, mode);
      const res = await pf.fetch(`${api.url}/weather`);
      expect(res.status).to.equal(200);
      return { header: pf.sent.at(-1)!.paymentSignature!, wallet };
    }

    async function sendWith(header: string, path = "/weather") {
      const res = await fetch(`${api.url}${path}`, { headers: { "PAYMENT-SIGNATURE": header } });
      const required = decodeHeader<Required>(res.headers.get("PAYMENT-REQUIRED"));
      const body = await res.text();
      return { status: res.status, error: required?.error, body };
    }

    it("refuses a replayed PAYMENT-SIGNATURE (server-settled and client-settled)", async function () {
      for (const [i, mode] of [
        [12, "server"],
        [13, "client"],
      ] as const) {
        const { header } = await paidHeader(i, mode);
        const servedBefore = api.served();
        const r = await sendWith(header);
        expect(r.status, mode).to.equal(402);
        // A settled server-mode proof is refused by the cheap chain-state check (its note is
        // spent) before any pairing; a receipt, by its claimed challenge.
        expect(r.error, mode).to.equal(mode === "server" ? "nullifier_spent" : "payment_replayed");
        expect(api.served(), "handler must not run").to.equal(servedBefore);
      }
    });

    it("refuses a proof made for another payee, amount, network or condition", async function () {
      const { wallet } = await env.payer(14, { deposit: 300_000n });
      // Prove for /weather, but do not send it: capture the header instead.
      const prepared = await env.preparedHeader(wallet, `${api.url}/weather`);
      const original = decodeHeader<{ accepted: Record<string, unknown>; payload: { terms: Record<string, string> } }>(
        prepared,
      )!;

      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64");
      // A fresh 402 for /premium (5x the price): the attacker presents the cheap proof there.
      const premium = decodeHeader<Required>((await fetch(`${api.url}/premium`)).headers.get("PAYMENT-REQUIRED"))!
        .accepts[0]!;
      // a) accepted swapped to the premium requirement, proof unchanged: amount differs.
      let r = await sendWith(enc({ ...original, accepted: premium }), "/premium");
      expect(r.status).to.equal(402);
      expect(r.error).to.equal("requirements_mismatch");
      // b) terms rewritten to match too: the proof no longer verifies.
      const { conditionHashOf } = await import("../../sdk/core/wire.js");
      const forged = {
        ...original,
        accepted: premium,
        payload: {
          ...original.payload,
          terms: {
            ...original.payload.terms,
            amount: (premium as unknown as { amount: string }).amount,
            conditionHash: conditionHashOf(premium.extra.challenge as never),
            expiry: String((premium.extra.challenge as { exp: number }).exp),
          },
        },
      };
      r = await sendWith(enc(forged), "/premium");
      expect(r.error).to.equal("invalid_proof");
      // c) another payee: terms.payTo changed.
      const other = {
        ...original,
        payload: { ...original.payload, terms: { ...original.payload.terms, payTo: account(9).address } },
      };
      r = await sendWith(enc(other));
      expect(r.error).to.equal("requirements_mismatch");
      // d) another condition: the challenge of another 402 with the original proof.
      const fresh = decodeHeader<Required>((await fetch(`${api.url}/weather`)).headers.get("PAYMENT-REQUIRED"))!
        .accepts[0]!;
      r = await sendWith(enc({ ...original, accepted: fresh }));
      expect(r.error).to.equal("requirements_mismatch");
      // e) another network: the server has no such requirement.
      r = await sendWith(enc({ ...original, accepted: { ...original.accepted, network: "eip155:8453" } }));
      expect(r.status).to.equal(402);
      expect(r.error).to.be.a("string").and.not.equal("");
      // f) a forged challenge (MAC from another secret).
      const tampered = {
        ...original.accepted,
        extra: {
          ...(original.accepted.extra as object),
          challenge: { ...(original.accepted.extra as { challenge: object }).challenge, exp: 9_999_999_999 },
        },
      };
      r = await sendWith(enc({ ...original, accepted: tampered }));
      expect(r.error).to.equal("invalid_challenge");
      // g) another route with the same price and payee: x402 does not match it as is, and
      //    rewriting the route in `accepted` breaks the challenge's MAC.
      r = await sendWith(prepared, "/forecast");
      expect(r.status).to.equal(402);
      expect(r.error).to.not.equal(undefined);
      const reRouted = {
        ...original.accepted,
        extra: { ...(original.accepted.extra as object), route: "GET /forecast" },
      };
      r = await sendWith(enc({ ...original, accepted: reRouted }), "/forecast");
      expect(r.status).to.equal(402);
      expect(r.error).to.equal("invalid_challenge");
      // The untouched original still pays.
      r = await sendWith(prepared);
      expect(r.status).to.equal(200);
    });

    it("answers malformed headers with 400 and a stable reason, never 500", async function () {
      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64");
      const cases: [string, string, string][] = [
        ["not base64", "%%%not-base64%%%", "malformed_header"],
        ["base64 of not JSON", Buffer.from("hello world!").toString("base64"), "malformed_header"],
        ["JSON array", enc([1, 2, 3]), "malformed_header"],
        ["oversized", "A".repeat(12_000), "header_too_large"],
        [
          "wrong version",
          enc({ x402Version: 1, accepted: { scheme: "zk-exact" }, payload: {} }),
          "unsupported_version",
        ],
        ["wrong scheme", enc({ x402Version: 2, accepted: { scheme: "exact" }, payload: {} }), "unsupported_scheme"],
        [
          "payload not a zk-exact payload",
          enc({ x402Version: 2, accepted: { scheme: "zk-exact" }, payload: { settlement: "server" } }),
          "invalid_payload",
        ],
        [
          "out-of-range integer in proof",
          enc({
            x402Version: 2,
            accepted: { scheme: "zk-exact" },
            payload: {
              settlement: "client",
              receiptId: "0x" + "1".repeat(64),
              transaction: "0x" + "2".repeat(64),
              terms: {
                payTo: payee,
                amount: "-1",
                relayer: payee,
                fee: "0",
                conditionHash: "0x" + "3".repeat(64),
                expiry: "1",
              },
            },
          }),
          "invalid_payload",
        ],
      ];
      for (const [label, header, reason] of cases) {
        const res = await fetch(`${api.url}/weather`, {
          headers: { "PAYMENT-SIGNATURE": header },
          signal: AbortSignal.timeout(5_000),
        });
        // One reason table (core/http.ts): an oversized header is 431, as for zk-session.
        expect(res.status, label).to.equal(reason === "header_too_large" ? 431 : 400);
        const body = (await res.json()) as { error: string; message: string };
        expect(body.error, label).to.equal(reason);
        expect(body.message, label).to.be.a("string");
      }
      // A structurally valid but unpaid receipt: 402 with a reason, not 500.
      const required = decodeHeader<Required>((await fetch(`${api.url}/weather`)).headers.get("PAYMENT-REQUIRED"))!
        .accepts[0]!;
      const { conditionHashOf } = await import("../../sdk/core/wire.js");
      const fake = {
        x402Version: 2,
        accepted: required,
        payload: {
          settlement: "client",
          receiptId: "0x" + "12".repeat(32),
          transaction: "0x" + "34".repeat(32),
          terms: {
            payTo: payee,
            amount: "10000",
            relayer: "0x" + "0".repeat(40),
            fee: "0",
            conditionHash: conditionHashOf(required.extra.challenge as never),
            expiry: "1",
          },
        },
      };
      const r = await sendWith(enc(fake));
      expect(r.status).to.equal(402);
      expect(r.error).to.equal("receipt_not_found");
    });

    it("waits for confirmations: an unconfirmed receipt is refused without burning the payment", async function () {
      const strict = await env.api({ payTo: payee, minConfirmations: 3 });
      try {
        const { wallet } = await env.payer(15, { deposit: 100_000n });
        // A client that does not wait for confirmations (confirmationTimeoutMs 0) sends its receipt at once.
        const pf = env.payingFetch(wallet, "client", { confirmationTimeoutMs: 0 });
        const res = await pf.fetch(`${strict.url}/weather`);
        expect(res.status).to.equal(402);
        expect(decodeHeader<Required>(res.headers.get("PAYMENT-REQUIRED"))!.error).to.equal("receipt_unconfirmed");
        const header = pf.sent.at(-1)!.paymentSignature!;
        // Two more blocks: 3 confirmations. The same header is now accepted.
        await env.chain.provider.request({ method: "hardhat_mine" as never, params: ["0x2"] as never });
        const ok = await fetch(`${strict.url}/weather`, { headers: { "PAYMENT-SIGNATURE": header } });
        expect(ok.status).to.equal(200);
        // And only once.
        const again = await fetch(`${strict.url}/weather`, { headers: { "PAYMENT-SIGNATURE": header } });
        expect(again.status).to.equal(402);
      } finally {
        await strict.close();
      }
    });

    it("a payer killed between sending pay and saving its change note recovers it from seed and chain", async function () {
      const { spawn } = await import("node:child_process");
      const { mkdtempSync, rmSync } = await import("node:fs");
      const os = await import("node:os");
      const path = await import("node:path");
      const { FileNoteStore } = await import("../../sdk/node/file-store.js");
      const { MemoryNoteStore } = await import("../../sdk/client/store.js");
      const dir = mkdtempSync(path.join(os.tmpdir(), "402zk-crash-"));
      try {
        const storeFile = path.join(dir, "notes.json");
        const { seed, wallet } = await env.payer(16, { deposit: 700_000n, store: new FileNoteStore(storeFile) });
        expect(wallet.balance()).to.equal(700_000n);
        const before = await env.system.token.balanceOf(payee);
        const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/crash-payer.ts"], {
          env: {
            ...process.env,
            CRASH_CFG: JSON.stringify({
              url: env.chain.url,
              pool: env.pool,
              seed,
              store: storeFile,
              accountIndex: 16,
              payTo: payee,
              amount: "250000",
            }),
          },
          stdio: ["ignore", "pipe", "inherit"],
        });
        const hash = await new Promise<Hex>((resolve, reject) => {
          let out = "";
          child.stdout.on("data", (d: Buffer) => {
            out += d.toString();
            const m = /SENT (0x[0-9a-f]{64})/.exec(out);
            if (m) resolve(m[1] as Hex);
          });
          child.on("exit", (code) => reject(new Error(`payer exited early (${code}): ${out}`)));
        });
        child.kill("SIGKILL");
        await new Promise((r) => child.once("exit", r));
        const rc = await env.publicClient.waitForTransactionReceipt({ hash });
        expect(rc.status).to.equal("success");
        expect(await env.system.token.balanceOf(payee)).to.equal(before + 250_000n);

        // 1) Restart with the store the killed process left behind.
        const restarted = await env.payer(16, { seed, store: new FileNoteStore(storeFile) });
        await restarted.wallet.sync();
        expect(restarted.wallet.balance()).to.equal(450_000n);
        expect(restarted.wallet.snapshot().pending).to.have.length(0);
        // 2) Worst case: the store is gone. Seed + chain rebuild everything.
        const fromSeed = await env.payer(16, { seed, store: new MemoryNoteStore() });
        await fromSeed.wallet.sync();
        expect(fromSeed.wallet.balance()).to.equal(450_000n);
        const notes = fromSeed.wallet.snapshot().notes;
        expect(notes.filter((n) => n.spent)).to.have.length(1);
        expect(notes.filter((n) => !n.spent).map((n) => n.value)).to.deep.equal(["450000"]);
        // The recovered change note is spendable.
        const pf = env.payingFetch(fromSeed.wallet, "server");
        expect((await pf.fetch(`${api.url}/weather`)).status).to.equal(200);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("two server instances sharing Redis refuse a payment replayed across them", async function () {
      const { startRedis } = await import("../helpers/redis.js");
      const { Redis } = await import("ioredis");
      const { RedisReplayStore } = await import("../../sdk/core/replay.js");
      const redis = await startRedis();
      const clients = [new Redis(redis.url), new Redis(redis.url)];
      const secret = "shared-secret-of-this-api-0123456789";
      const a = await env.api({ payTo: payee, challengeSecret: secret, replay: new RedisReplayStore(clients[0]!) });
      const b = await env.api({ payTo: payee, challengeSecret: secret, replay: new RedisReplayStore(clients[1]!) });
      try {
        // Client-settled: the receipt is valid on chain for ever; only the shared store stops reuse.
        const { wallet } = await env.payer(17, { deposit: 100_000n });
        const pf = env.payingFetch(wallet, "client");
        expect((await pf.fetch(`${a.url}/weather`)).status).to.equal(200);
        const header = pf.sent.at(-1)!.paymentSignature!;
        const onB = await fetch(`${b.url}/weather`, { headers: { "PAYMENT-SIGNATURE": header } });
        expect(onB.status).to.equal(402);
        expect(decodeHeader<Required>(onB.headers.get("PAYMENT-REQUIRED"))!.error).to.equal("payment_replayed");
        expect(b.served()).to.equal(0);

        // Server-settled, sent to both instances at once: exactly one serves it.
        const { wallet: w2 } = await env.payer(18, { deposit: 100_000n });
        const prepared = await env.preparedHeader(w2, `${a.url}/weather`);
        const results = await Promise.all(
          [a.url, b.url].map((u) => fetch(`${u}/weather`, { headers: { "PAYMENT-SIGNATURE": prepared } })),
        );
        expect(results.map((r) => r.status).sort()).to.deep.equal([200, 402]);
        expect(a.served() + b.served()).to.equal(2);
      } finally {
        await a.close();
        await b.close();
        await Promise.all(clients.map((c) => c.quit()));
        await redis.stop();
      }
    });
  });
});

describe("x402 integration: a busy pool (root history of 2)", function () {
  let env: Env;
  let api: Awaited<ReturnType<Env["api"]>>;

  before(async function () {
    env = await startEnv({ rootHistorySize: 2 });
    api = await env.api({ payTo: account(3).address });
  });

  after(async function () {
    await api?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  /** A fetch that lets `n` other deposits land while the first paid request is in flight. */
  function busyFetch(n: number) {
    const sent: string[] = [];
    let fired = false;
    const f: typeof fetch = async (input, init) => {
      const req = new Request(input as RequestInfo, init);
      const sig = req.headers.get("PAYMENT-SIGNATURE");
      if (sig) {
        sent.push(sig);
        if (!fired) {
          fired = true;
          const other = await env.payer(5);
          await env.mint(other.address, BigInt(n) * 1_000n);
          for (let i = 0; i < n; i++) await other.wallet.deposit(1_000n);
        }
      }
      return fetch(req);
    };
    return { f, sent };
  }

  it("server-settled: a proof whose root fell out of the history is proven again and paid", async function () {
    const { wallet } = await env.payer(6, { deposit: 100_000n });
    const { f, sent } = busyFetch(3);
    const { x402Client } = await import("@x402/core/client");
    const { wrapFetchWithPayment } = await import("@x402/fetch");
    const { ZkExactClientScheme } = await import("../../sdk/client/scheme.js");
    const client = new x402Client().register("eip155:*", new ZkExactClientScheme({ wallet, settlement: "server" }));
    client.setSpendControls(false);
    const res = await wrapFetchWithPayment(f, client)(`${api.url}/weather`);
    expect(res.status).to.equal(200);
    expect(sent).to.have.length(2); // the stale proof, then a fresh one for the same 402
    await wallet.sync();
    expect(wallet.balance()).to.equal(90_000n);
  });

  it("client-settled: a submission refused for a stale root is proven again and submitted", async function () {
    const { wallet, address } = await env.payer(7, { deposit: 100_000n });
    // Let the tree move on between proving and submitting: deposits from another account
    // land right after the proof is prepared.
    let moved = false;
    let proofs = 0;
    const { ZkExactClientScheme } = await import("../../sdk/client/scheme.js");
    const { x402Client } = await import("@x402/core/client");
    const { wrapFetchWithPayment } = await import("@x402/fetch");
    const other = await env.payer(8);
    await env.mint(other.address, 3_000n);
    const scheme = new ZkExactClientScheme({
      wallet,
      settlement: "client",
      onPrepared: () => {
        proofs++;
        if (moved) return;
        moved = true;
        // Runs synchronously before submitPayment: queue the deposits first.
        pending = (async () => {
          for (let i = 0; i < 3; i++) await other.wallet.deposit(1_000n);
        })();
      },
    });
    let pending: Promise<void> = Promise.resolve();
    // Hold the payer's submission until the other deposits are mined.
    const origSubmit = wallet.submitPayment.bind(wallet);
    wallet.submitPayment = async (p) => {
      await pending;
      return origSubmit(p);
    };
    const client = new x402Client().register("eip155:*", scheme);
    client.setSpendControls(false);
    const before = await env.publicClient.getTransactionCount({ address });
    const res = await wrapFetchWithPayment(fetch, client)(`${api.url}/weather`);
    expect(res.status).to.equal(200);
    expect(moved).to.equal(true);
    expect(proofs, "proven twice: once stale, once fresh").to.equal(2);
    // The stale submission reverted in estimation (never sent); only the fresh one was mined.
    expect(await env.publicClient.getTransactionCount({ address })).to.equal(before + 1);
    expect(wallet.balance()).to.equal(90_000n);
  });
});

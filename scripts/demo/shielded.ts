/**
 * The demo's zk-shielded step: the same agent pays an API whose payee is a shielded
 * address, then the chain's view of that payment is set beside a zk-exact one (decoded
 * from the real transactions, receipts and events), and the API's wallet, opened from its
 * seed alone, finds the payment by trial decryption; an auditor's viewing key lists it.
 */
import type { Hash, Hex } from "viem";

import { fetchIncoming } from "../../sdk/client/actions/receive.js";
import { MemoryNoteStore } from "../../sdk/client/store.js";
import { PrivateWallet } from "../../sdk/client/wallet.js";
import { facilitatorAbi } from "../../sdk/core/abi.js";
import type { CircuitArtifacts } from "../../sdk/core/circuits/artifacts.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { PAYEE_MEMO_LENGTH } from "../../sdk/core/note-encryption.js";
import { startPaidApi } from "../../sdk/cli/paid-api.js";
import { payWithZk, type PayResult } from "../../sdk/cli/pay.js";
import { progressBar } from "../../sdk/cli/progress.js";
import { nodeX25519 } from "../../sdk/node/x25519.js";
import type { DemoChain } from "../lib/dev-env.js";
import { gas, ms, table, timed } from "../lib/format.js";
import { DEMO_ACCOUNTS } from "./exact.js";
import { eventsOf, observeTx, paymentOf, short, describeTx, type ObservedTx } from "./observer.js";

/** What {@link demoShielded} needs from the rest of the demo. */
export interface ShieldedDemoOptions {
  env: DemoChain;
  /** The payer's wallet (it pays the shielded API once). */
  wallet: PrivateWallet;
  /** A settled zk-exact payment of the earlier steps, to set beside the shielded one. */
  exact: PayResult;
  artifacts: CircuitArtifacts;
  /** Names of known addresses, for the observer's view. */
  names: Map<string, string>;
  fmt: (v: bigint) => string;
  log: (s?: string) => void;
}

/** What the summary needs of the shielded payment. */
export interface ShieldedDemoResult {
  r: PayResult;
  gasUsed: number;
  /** The API wallet's view: notes found by trial decryption, and their value. */
  found: { notes: number; value: bigint; syncMs: number; memos: number };
}

/**
 * Runs the zk-shielded step and prints it; returns the payment for the summary.
 *
 * @example
 * const shielded = await demoShielded({ env, wallet, exact: firstServer.r, artifacts, names, fmt, log });
 */
export async function demoShielded(o: ShieldedDemoOptions): Promise<ShieldedDemoResult> {
  const { env, wallet, exact, names, fmt, log } = o;
  const { publicClient, pool } = env;

  // The API's wallet: a seed of its own. The server holds only its viewing and owner keys.
  const apiSeed = WalletKeys.randomSeed();
  const apiKeys = WalletKeys.fromSeed(apiSeed);
  const apiT = await timed(() =>
    startPaidApi({
      pool: { chainId: pool.chainId, facilitator: pool.facilitator, token: pool.token, decimals: pool.decimals },
      publicClient,
      relayer: env.walletClientFor(DEMO_ACCOUNTS.relayer),
      shielded: { keys: apiKeys },
      price: "$0.01",
      challengeSecret: WalletKeys.randomSeed(),
    }),
  );
  const api = apiT.value;
  log(`  a second API, paid zk-shielded, on ${api.url} (${ms(apiT.ms)})`);
  log(`    GET /weather  zk-shielded  $0.01 -> its shielded address (402zk address):`);
  log(`    ${api.payTo}`);
  log(
    `    = bech32m("zk402", 0x00 ‖ owner key ‖ X25519 encryption key); the server holds the viewing key, never the spending key`,
  );

  const bar = progressBar({ label: "    proving" });
  let r: PayResult;
  try {
    r = await payWithZk(`${api.url}/weather`, { wallet, settlement: "server", onProgress: bar.update });
  } finally {
    bar.end();
  }
  await api.close();
  if (r.status !== 200 || !r.settled || !r.transaction)
    throw new Error(`shielded payment failed: HTTP ${r.status} ${r.refusedReason ?? ""} ${r.body}`);
  const t = r.timings;
  log(
    `  #1 zk-shielded HTTP ${r.status} ${ms(t.totalMs, 8)} = 402 ${ms(t.challengeMs)} + sync ${ms(t.syncMs)} + witness ${ms(t.witnessMs)} + prove ${ms(t.proveMs)} + server open note, verify+settle ${ms(t.serverMs)}`,
  );
  log(`     receipt ${r.receiptId}  tx ${r.transaction}`);

  // ---------------------------------------------------------------- what the chain shows
  const obsExact = await observeTx(publicClient, exact.transaction as Hash);
  const obsShielded = await observeTx(publicClient, r.transaction);
  log("");
  log("  the zk-shielded payment's transaction, decoded:");
  for (const l of describeTx(obsShielded, names, fmt)) log(`    ${l}`);

  const who = (a: string) => {
    const n = names.get(a.toLowerCase());
    return n ? n.replace("payee: ", "") : short(a);
  };
  const view = (obs: ObservedTx, id: Hex | undefined) => {
    const p = id ? paymentOf(obs, id) : undefined;
    if (!p) throw new Error(`transaction ${obs.hash} holds no payment ${id ?? "?"}`);
    const receipt = eventsOf(obs, "PaymentReceipt", id)[0];
    const shieldedReceipt = eventsOf(obs, "ShieldedPaymentReceipt", id)[0];
    // Transfers out of the pool: to the payee (transparent) and to the relayer (fee).
    const transfers = eventsOf(obs, "Transfer").filter(
      (e) => String(e.args.from).toLowerCase() === pool.facilitator.toLowerCase(),
    );
    const leaves = eventsOf(obs, "LeafInserted");
    return { p, receipt, shieldedReceipt, transfers, leaves };
  };
  const e = view(obsExact, exact.receiptId);
  const s = view(obsShielded, r.receiptId);
  const payeeCell = (v: ReturnType<typeof view>) =>
    v.receipt
      ? `PUBLIC: ${who(String(v.receipt.args.payTo))} (PaymentReceipt.payTo, terms.payTo)`
      : `hidden: terms.payTo = 0x0; only a commitment ${short(String(v.p.payeeCommitment), 5)}`;
  const amountCell = (v: ReturnType<typeof view>) =>
    v.receipt
      ? `PUBLIC: ${fmt(v.receipt.args.amount as bigint)} (receipt, Transfer, terms)`
      : `hidden: terms.amount = ${v.p.terms.amount}, no Transfer to a payee`;
  const conditionCell = (v: ReturnType<typeof view>) =>
    v.receipt
      ? `${short(v.p.terms.conditionHash, 5)}: calldata + PaymentReceipt`
      : `${short(v.p.terms.conditionHash, 5)}: calldata only (not in the receipt)`;
  const feeCell = (v: ReturnType<typeof view>) =>
    `${fmt(v.p.terms.fee)}${v.p.terms.fee > 0n ? ` to ${who(v.p.terms.relayer)}` : ""} (public)`;
  const transferCell = (v: ReturnType<typeof view>) =>
    v.transfers.length === 0
      ? "none"
      : v.transfers.map((x) => `pool -> ${who(String(x.args.to))} ${fmt(x.args.value as bigint)}`).join("; ");
  const leavesCell = (v: ReturnType<typeof view>) =>
    v.leaves
      .map((l) =>
        (String(l.args.memo).length - 2) / 2 === PAYEE_MEMO_LENGTH
          ? `payee note (${PAYEE_MEMO_LENGTH}-byte ciphertext)`
          : `change note (${(String(l.args.memo).length - 2) / 2}-byte memo)`,
      )
      .join(" + ");
  const rows = [
    ["payee", payeeCell(e), payeeCell(s)],
    ["amount", amountCell(e), amountCell(s)],
    ["condition hash", conditionCell(e), conditionCell(s)],
    ["relayer fee", feeCell(e), feeCell(s)],
    ["tokens leaving the pool", transferCell(e), transferCell(s)],
    ["receipt event", e.receipt ? "PaymentReceipt" : "?", s.shieldedReceipt ? "ShieldedPaymentReceipt" : "?"],
    [`leaves appended (${e.leaves.length} / ${s.leaves.length})`, leavesCell(e), leavesCell(s)],
    ["payer", "hidden (a fresh nullifier)", "hidden (a fresh nullifier)"],
    ["tx sender", who(obsExact.from), who(obsShielded.from)],
    ["gas used", gas(obsExact.gasUsed), gas(obsShielded.gasUsed)],
  ];
  log("");
  log("  what a chain observer sees of each (decoded from the real calldata, receipts and events):");
  log(table(["observer learns", "402zk zk-exact (step 4)", "402zk zk-shielded"], rows).replace(/^/gm, "    "));

  // ---------------------------------------------------------------- the API's wallet
  log("");
  const leafLogs = await publicClient.getContractEvents({
    address: pool.facilitator,
    abi: facilitatorAbi,
    eventName: "LeafInserted",
    fromBlock: BigInt(pool.deploymentBlock),
    strict: true,
  });
  const memos = leafLogs.filter((l) => (l.args.memo.length - 2) / 2 === PAYEE_MEMO_LENGTH).length;
  const apiWallet = await PrivateWallet.open({
    seed: apiSeed,
    pool,
    publicClient,
    store: new MemoryNoteStore(),
    artifacts: o.artifacts,
    sync: { auto: false },
  });
  const synced = await timed(() => apiWallet.sync());
  const received = apiWallet.receivedPayments();
  const value = received.reduce((sum, x) => sum + x.amount, 0n);
  log(
    `  the API's wallet, opened from its seed alone (empty store), syncs the pool's ${leafLogs.length} leaves and trial-decrypts`,
  );
  log(
    `  the ${memos} payee memo(s) with its viewing key (${ms(synced.ms)}): ${received.length} note(s) received, balance ${fmt(apiWallet.balance())}`,
  );
  for (const x of received) {
    const same = x.conditionHash.toLowerCase() === r.prepared?.terms.conditionHash.toLowerCase();
    log(
      `    leaf #${x.leafIndex}  ${fmt(x.amount)}  condition ${short(x.conditionHash, 6)}${same ? " (the paid request's)" : ""}  ${x.spent ? "spent" : "unspent: spendable or withdrawable by the API"}`,
    );
  }
  const audit = await fetchIncoming(apiKeys.viewingKeyString(), { publicClient, pool, x25519: nodeX25519 });
  log(
    `  an auditor given the viewing key (402zk audit --viewing-key zk402view1...) lists ${audit.length} incoming payment(s), ${fmt(audit.reduce((sum, x) => sum + x.amount, 0n))}; it cannot spend them.`,
  );
  return {
    r,
    gasUsed: Number(obsShielded.gasUsed),
    found: { notes: received.length, value, syncMs: synced.ms, memos },
  };
}

/**
 * `npm run demo`: 402zk end to end on a local chain, with zero setup.
 *
 *  1. starts Hardhat's EVM on 127.0.0.1, deploys the pool, funds a payer;
 *  2. the payer's private wallet deposits 5 USDC;
 *  3. a paid API: GET /weather (zk-exact, $0.01) and GET /weather-exact (plain x402 exact);
 *  4. an agent pays /weather 3 times server-settled and 2 times client-settled;
 *  5. and /weather-exact once with plain x402 exact;
 *  6. prints what a chain observer sees of each, from the real receipts;
 *  7. pays a second API zk-shielded (its payee a shielded address) and sets what a chain observer
 *     sees of it beside a zk-exact payment (payee and amount hidden), then the API's wallet finds
 *     the payment by trial decryption (scripts/demo/shielded.ts);
 *  8. a summary (latency, gas);
 *  9. the agent buys ONE session credential and makes 20 requests with it (scripts/demo/sessions.ts);
 * 10. proof before pay: an inference paid through escrow (scripts/demo/escrow.ts);
 * 11. Verify & Pay: an age-gated API (scripts/demo/attributes.ts), then exits 0.
 *
 * Options: --no-build skips `hardhat build` (the contracts must be compiled already).
 */
import hre from "hardhat";
import { type Address, type Hash } from "viem";

import { MemoryNoteStore } from "../../sdk/client/store.js";
import { PrivateWallet } from "../../sdk/client/wallet.js";
import { erc20Abi, facilitatorAbi } from "../../sdk/core/abi.js";
import { SNARK_SCALAR_FIELD } from "../../sdk/core/field.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import type { SettlementMode } from "../../sdk/core/wire.js";
import { formatAmount } from "../../sdk/cli/amount.js";
import { payWithZk, type PayResult } from "../../sdk/cli/pay.js";
import { progressBar } from "../../sdk/cli/progress.js";
import { defaultArtifacts } from "../../sdk/node/artifacts.js";
import { devAccount, startDemoChain } from "../lib/dev-env.js";
import { demoAttributes } from "./attributes.js";
import { demoEscrow } from "./escrow.js";
import { DEMO_ACCOUNTS, payExact, startDemoApi, type ExactPayResult } from "./exact.js";
import { gas, median, ms, table, timed } from "../lib/format.js";
import { describeTx, eventOf, observeTx, short, type ObservedTx } from "./observer.js";
import { demoSessions } from "./sessions.js";
import { demoShielded } from "./shielded.js";

const USDC = 1_000_000n;
const ACCOUNTS = { ...DEMO_ACCOUNTS, others: [5, 6, 7], inferenceApi: 8 } as const;
const SERVER_PAYMENTS = 3;
const CLIENT_PAYMENTS = 2;

const log = (s = "") => console.log(s);
const fmt = (v: bigint) => `${formatAmount(v, 6)} USDC`;
const step = (label: string, t: number, detail = "") =>
  log(`  ${label.padEnd(58)} ${ms(t, 8)}${detail ? `  ${detail}` : ""}`);

interface ZkRun {
  n: number;
  wanted: SettlementMode;
  r: PayResult;
}

/**
 * `hardhat build` with its console output held back until it is done: solc warns about
 * every use of transient storage (OpenZeppelin's ReentrancyGuardTransient, used on
 * purpose), which would otherwise be the first thing the demo prints. That warning is
 * summarised in one line by the caller; anything else the build printed is printed as it was.
 */
async function buildContracts(): Promise<{ transientStorage: boolean }> {
  const original = { log: console.log, warn: console.warn, error: console.error };
  const held: { kind: keyof typeof original; args: unknown[] }[] = [];
  for (const kind of ["log", "warn", "error"] as const)
    console[kind] = (...args: unknown[]) => held.push({ kind, args });
  let transientStorage = false;
  try {
    await hre.tasks.getTask("build").run({ quiet: true });
  } finally {
    Object.assign(console, original);
    for (const { kind, args } of held) {
      const text = args.map(String).join(" ");
      if (/transient storage/i.test(text) && !/error/i.test(text.slice(0, 20))) transientStorage = true;
      else if (text.trim()) original[kind](...args);
    }
  }
  return { transientStorage };
}

async function main(): Promise<void> {
  const T0 = performance.now();
  log("402zk demo: private x402 payments, end to end on a local chain");
  log("");

  // ------------------------------------------------------------------ 1. chain
  log("== 1. local chain, contracts, funds");
  if (!process.argv.includes("--no-build")) {
    const b = await timed(() => buildContracts());
    step("compile contracts (hardhat build; cached after the first run)", b.ms);
    if (b.value.transientStorage)
      log("    (solc's transient-storage note is expected: the pool's reentrancy guard uses EIP-1153 on purpose)");
  }
  const artifacts = defaultArtifacts(); // fails early, with a hint, if the circuit is not built
  const env = await startDemoChain();
  const { publicClient, pool } = env;
  step(`start Hardhat EVM, JSON-RPC on ${env.url}`, env.timings.chainMs);
  step("deploy Poseidon, verifiers, TestUSDC, FacilitatorEscrow", env.timings.deployMs);
  log(`    Facilitator (the pool) ${pool.facilitator}`);
  log(`    TestUSDC               ${pool.token}`);

  const payer = devAccount(ACCOUNTS.payer);
  const relayer = devAccount(ACCOUNTS.relayer);
  const apiOwner = devAccount(ACCOUNTS.apiOwner);
  const exactFacilitator = devAccount(ACCOUNTS.exactFacilitator);
  const payerWallet = env.walletClientFor(ACCOUNTS.payer);
  const names = new Map<string, string>([
    [payer.address.toLowerCase(), "payer EOA"],
    [relayer.address.toLowerCase(), "API relayer"],
    [apiOwner.address.toLowerCase(), "payee: API owner"],
    [exactFacilitator.address.toLowerCase(), "x402 exact facilitator"],
    [pool.facilitator.toLowerCase(), "402zk pool"],
  ]);

  const mint = await timed(async () => {
    const hash = await payerWallet.writeContract({
      address: pool.token,
      abi: erc20Abi,
      functionName: "mint",
      args: [payer.address, 10n * USDC],
      account: payer,
      chain: env.viemChain,
    });
    return env.waitOk(hash);
  });
  step(`mint 10 USDC to the payer EOA ${short(payer.address)} (TestUSDC.mint)`, mint.ms);

  // Other users of the pool: without them the payer would be the only possible depositor.
  const others = await timed(async () => {
    for (const [j, i] of ACCOUNTS.others.entries()) {
      const wc = env.walletClientFor(i);
      const a = devAccount(i);
      names.set(a.address.toLowerCase(), `another pool user`);
      const value = BigInt(j + 2) * USDC;
      const send = async (
        address: Address,
        abi: typeof erc20Abi | typeof facilitatorAbi,
        functionName: string,
        args: unknown[],
      ) =>
        env.waitOk(
          await wc.writeContract({ address, abi, functionName, args, account: a, chain: env.viemChain } as never),
        );
      await send(pool.token, erc20Abi, "mint", [a.address, value]);
      await send(pool.token, erc20Abi, "approve", [pool.facilitator, value]);
      const precommitment = BigInt(WalletKeys.randomSeed()) % SNARK_SCALAR_FIELD; // their note; never spent here
      await send(pool.facilitator, facilitatorAbi, "deposit", [precommitment, value, "0x"]);
    }
  });
  step(`${ACCOUNTS.others.length} other users deposit 2, 3 and 4 USDC into the pool`, others.ms);

  // ------------------------------------------------------------------ 2. wallet
  log("");
  log("== 2. the payer's private wallet");
  const wallet = await PrivateWallet.open({
    seed: WalletKeys.randomSeed(),
    pool,
    publicClient,
    walletClient: payerWallet,
    store: new MemoryNoteStore(),
    artifacts,
    // Pays back to back in one process: with scheduled syncing a payment from the last
    // payment's change note would wait for the next scheduled sync (README, Syncing).
    sync: { auto: false },
  });
  const dep = await timed(() => wallet.deposit(5n * USDC));
  step("deposit 5 USDC into a private note (approve tx + deposit tx)", dep.ms, `tx ${short(dep.value.hash, 6)}`);
  const payerPublic = await publicClient.readContract({
    address: pool.token,
    abi: erc20Abi,
    functionName: "balanceOf",
    args: [payer.address],
  });
  log(
    `    note = leaf #${dep.value.leafIndex}; private balance ${fmt(wallet.balance())}, payer EOA public balance ${fmt(payerPublic)}`,
  );

  // ------------------------------------------------------------------ 3. API
  log("");
  log("== 3. a paid API on 127.0.0.1");
  const apiT = await timed(() => startDemoApi(env));
  const { api, exactNetwork } = apiT.value;
  step(`express on ${api.url}`, apiT.ms);
  log(
    `    GET /weather        zk-exact  $0.01 -> ${short(apiOwner.address)} (API owner); relayer ${short(relayer.address)} settles`,
  );
  log(
    `    GET /weather-exact  exact     10000 base units of TestUSDC (EIP-3009) -> ${short(apiOwner.address)}; facilitator ${short(exactFacilitator.address)}`,
  );

  // ------------------------------------------------------------------ 4. agent
  log("");
  log("== 4. an agent pays GET /weather with 402zk (x402 client + ZkExactClientScheme)");
  const runs: ZkRun[] = [];
  const plan: SettlementMode[] = [
    ...Array<SettlementMode>(SERVER_PAYMENTS).fill("server"),
    ...Array<SettlementMode>(CLIENT_PAYMENTS).fill("client"),
  ];
  for (const [i, wanted] of plan.entries()) {
    if (wanted === "client" && runs.every((x) => x.wanted !== "client")) {
      log("  client-settled: the payer's wallet submits `pay` itself and sends the receipt. Here it uses the payer's");
      log(
        "  own EOA, which pays the gas and is visible as the sender; a real payer would use a fresh EOA or a relayer.",
      );
    }
    const bar = progressBar({ label: "    proving" });
    let r: PayResult;
    try {
      r = await payWithZk(`${api.url}/weather`, { wallet, settlement: wanted, onProgress: bar.update });
    } finally {
      bar.end();
    }
    if (r.status !== 200 || !r.settled)
      throw new Error(`payment ${i + 1} failed: HTTP ${r.status} ${r.refusedReason ?? ""} ${r.body}`);
    runs.push({ n: i + 1, wanted, r });
    const t = r.timings;
    const parts = [
      `402 ${ms(t.challengeMs)}`,
      `sync ${ms(t.syncMs)}`,
      `witness ${ms(t.witnessMs)}`,
      `prove ${ms(t.proveMs)}`,
      ...(r.mode === "client" ? [`submit pay ${ms(t.submitMs)}`] : []),
      `server verify+${r.mode === "client" ? "receipt check" : "settle"} ${ms(t.serverMs)}`,
    ];
    log(
      `  #${r.mode === undefined ? "?" : runs.length} ${String(r.mode).padEnd(6)} HTTP ${r.status} ${ms(t.totalMs, 8)} = ${parts.join(" + ")}`,
    );
    log(`     receipt ${r.receiptId}  tx ${r.transaction}`);
  }
  log(`  private balance now ${fmt(wallet.balance())}`);

  // ------------------------------------------------------------------ 5. exact
  log("");
  log('== 5. the same agent pays GET /weather-exact with plain x402 "exact" (payer EOA signs EIP-3009)');
  const ex: ExactPayResult = await payExact(`${api.url}/weather-exact`, payer, exactNetwork);
  if (ex.status !== 200 || !ex.transaction) throw new Error(`exact payment failed: HTTP ${ex.status} ${ex.body}`);
  const et = ex.timings;
  log(
    `  #1 exact  HTTP ${ex.status} ${ms(et.totalMs, 8)} = 402 ${ms(et.challengeMs)} + sign ${ms(et.signMs)} + server verify+settle ${ms(et.serverMs)}`,
  );
  log(`     tx ${ex.transaction}`);

  // ------------------------------------------------------------------ 6. observer
  log("");
  log("== 6. what a chain observer sees (decoded from the real receipts and logs)");
  const firstServer = runs.find((x) => x.r.mode === "server")!;
  const firstClient = runs.find((x) => x.r.mode === "client");
  const obsExact = await observeTx(publicClient, ex.transaction);
  const obsServer = await observeTx(publicClient, firstServer.r.transaction as Hash);
  const obsClient = firstClient ? await observeTx(publicClient, firstClient.r.transaction as Hash) : undefined;
  const gasOf = async (rs: ZkRun[]) =>
    Promise.all(
      rs.map(async (x) =>
        Number((await publicClient.getTransactionReceipt({ hash: x.r.transaction as Hash })).gasUsed),
      ),
    );

  log('  x402 "exact" payment:');
  for (const l of describeTx(obsExact, names, fmt)) log(`    ${l}`);
  log("  402zk payment, server-settled:");
  for (const l of describeTx(obsServer, names, fmt)) log(`    ${l}`);
  if (obsClient) {
    log("  402zk payment, client-settled:");
    for (const l of describeTx(obsClient, names, fmt)) log(`    ${l}`);
  }

  // The anonymity set: every note in the tree; the possible payers: every depositor.
  const treeSize = await publicClient.readContract({
    address: pool.facilitator,
    abi: facilitatorAbi,
    functionName: "treeSize",
  });
  const deposits = await publicClient.getContractEvents({
    address: pool.facilitator,
    abi: facilitatorAbi,
    eventName: "Deposited",
    fromBlock: BigInt(pool.deploymentBlock),
    strict: true,
  });
  const depositors = new Set(deposits.map((d) => d.args.depositor.toLowerCase()));
  const leafOfServerProof = firstServer.r.prepared?.proof.treeSize;

  const transferCell = (o: ObservedTx) => {
    const t = eventOf(o, "Transfer");
    return t ? `${who(t.args.from)} -> ${who(t.args.to)}` : "-";
  };
  const who = (a: unknown) => {
    const n = names.get(String(a).toLowerCase());
    return n ? n.replace("payee: ", "") : short(String(a));
  };
  const amountCell = (o: ObservedTx) => {
    const t = eventOf(o, "Transfer");
    return t ? `public: ${fmt(t.args.value as bigint)}` : "-";
  };
  const exactFrom = String(eventOf(obsExact, "Transfer")?.args.from ?? "").toLowerCase();
  const clientSenderIsPayer = obsClient?.from.toLowerCase() === payer.address.toLowerCase();
  const head = [
    "observer learns",
    'x402 "exact"',
    "402zk server-settled",
    ...(obsClient ? ["402zk client-settled"] : []),
  ];
  const col = (exact: string, server: string, client?: string) => [exact, server, ...(obsClient ? [client ?? ""] : [])];
  const rows: string[][] = [
    ["tx sender (pays gas)", ...col(who(obsExact.from), who(obsServer.from), obsClient ? who(obsClient.from) : "")],
    [
      "token Transfer",
      ...col(transferCell(obsExact), transferCell(obsServer), obsClient ? transferCell(obsClient) : ""),
    ],
    [
      "payer identity",
      ...col(
        exactFrom === payer.address.toLowerCase() ? `PUBLIC: ${short(payer.address)}` : "?",
        `hidden among ${leafOfServerProof ?? treeSize} notes`,
        clientSenderIsPayer ? `EXPOSED by tx sender` : "hidden (fresh EOA)",
      ),
    ],
    [
      "payee",
      ...col(
        `public: ${short(apiOwner.address)}`,
        `public: ${short(apiOwner.address)}`,
        `public: ${short(apiOwner.address)}`,
      ),
    ],
    ["amount", ...col(amountCell(obsExact), amountCell(obsServer), obsClient ? amountCell(obsClient) : "")],
    ["time", ...col("public: block timestamp", "public: block timestamp", "public: block timestamp")],
    ["payer's remaining balance", ...col("public: balanceOf(payer)", "hidden: change note", "hidden: change note")],
    [
      "links to payer's other payments",
      ...col("yes: same from address", "no: new nullifier each time", clientSenderIsPayer ? "yes: same sender" : "no"),
    ],
    [
      "gas used",
      ...col(String(obsExact.gasUsed), String(obsServer.gasUsed), obsClient ? String(obsClient.gasUsed) : ""),
    ],
  ];
  log("");
  log(table(head, rows).replace(/^/gm, "  "));
  log("");
  log(`  anonymity set: a proof hides WHICH note it spends among all notes in the pool's tree when it was proved`);
  log(
    `  (${leafOfServerProof ?? "?"} for payment #${firstServer.n}; ${treeSize} now: ${deposits.length} deposits + ${Number(treeSize) - deposits.length} change notes).`,
  );
  log(`  All funds trace back to ${depositors.size} depositors, and deposits are public:`);
  log(`  ${deposits.map((d) => `${who(d.args.depositor)} ${fmt(d.args.value)}`).join(", ")}.`);
  log("  In zk-exact the payee, the amount and the time of every payment are public, as with exact (step 7's");
  log("  zk-shielded hides payee and amount too); what zk-exact hides is");
  log("  who paid (and the payer's balance and other payments), as long as a relayer, not the payer's own");
  log("  deposit address, submits the transaction. A small pool or a unique amount/timing narrows the set.");

  // ------------------------------------------------------------------ 7. shielded
  log("");
  log("== 7. zk-shielded: the payee and the amount hidden too (the API is paid a private note)");
  const shielded = await demoShielded({ env, wallet, exact: firstServer.r, artifacts, names, fmt, log });

  // ------------------------------------------------------------------ 8. summary
  log("");
  log("== 8. summary");
  const server = runs.filter((x) => x.r.mode === "server");
  const client = runs.filter((x) => x.r.mode === "client");
  const [gasServer, gasClient] = await Promise.all([gasOf(server), gasOf(client)]);
  const row = (label: string, rs: ZkRun[], gasUsed: number[]) => [
    label,
    String(rs.length),
    ms(median(rs.map((x) => x.r.timings.totalMs))),
    ms(median(rs.map((x) => x.r.timings.proveMs))),
    ms(median(rs.map((x) => x.r.timings.serverMs + x.r.timings.submitMs))),
    gas(median(gasUsed)),
    `${(median(gasUsed) / Number(obsExact.gasUsed)).toFixed(1)}x`,
  ];
  const summaryRows = [
    ...(server.length ? [row("402zk server-settled", server, gasServer)] : []),
    ...(client.length ? [row("402zk client-settled", client, gasClient)] : []),
    row("402zk zk-shielded", [{ n: 0, wanted: "server", r: shielded.r }], [shielded.gasUsed]),
    ['x402 "exact"', "1", ms(et.totalMs), "-", ms(et.serverMs), gas(obsExact.gasUsed), "1.0x"],
  ];
  log(
    table(
      ["payment", "n", "median e2e", "median prove", "median verify+settle", "gas/payment", "vs exact"],
      summaryRows,
      [false, true, true, true, true, true, true],
    ).replace(/^/gm, "  "),
  );
  const payeeBalance = await publicClient.readContract({
    address: pool.token,
    abi: erc20Abi,
    functionName: "balanceOf",
    args: [apiOwner.address],
  });
  log("");
  log(
    `  payee received ${fmt(payeeBalance)} in public (${runs.length} x 402zk zk-exact + 1 x exact at $0.01); payer's private balance ${fmt(wallet.balance())}`,
  );
  log(
    `  the shielded API received ${fmt(shielded.found.value)} in ${shielded.found.notes} private note(s), found by trial decryption of ${shielded.found.memos} payee memo(s) in ${ms(shielded.found.syncMs)}`,
  );
  log(
    `  e2e = from the first request to the paid response; verify+settle = the paid request's round trip (client mode: + the payer's own pay tx).`,
  );
  log(
    "  Gas: `pay` queues its change note, so its cost does not depend on the tree; here each payer's change is its only",
  );
  log(
    "  note, so it asks for `payAndCommit` (the commit of the queue on top) to spend it in the next block. A busy API's",
  );
  log("  facilitator settles concurrent payments in one `payBatch` instead (see `npm run bench`).");
  log(
    `  Proving runs on this machine's CPU (${(await import("node:os")).cpus().length} cores); a local chain mines instantly, so real chains add block time.`,
  );

  // ------------------------------------------------------------------ 9. sessions
  log("");
  log("== 9. session credentials: the agent buys ONE credential, then makes 20 requests with it");
  await demoSessions({
    env,
    wallet,
    payTo: apiOwner.address,
    requests: 20,
    baselines: [
      { label: "402zk server-settled (step 4)", e2eMs: server.map((x) => x.r.timings.totalMs), gas: gasServer },
      { label: "402zk client-settled (step 4)", e2eMs: client.map((x) => x.r.timings.totalMs), gas: gasClient },
    ].filter((b) => b.gas.length > 0),
    log,
  });

  // ------------------------------------------------------------------ 10. proof before pay
  log("");
  log("== 10. proof before pay: the payment is released only against a proof that the API ran its model");
  await demoEscrow({ env, wallet, apiIndex: ACCOUNTS.inferenceApi, fmt, log });

  // ------------------------------------------------------------------ 11. Verify & Pay
  log("");
  log("== 11. Verify & Pay: an age-gated API learns that the rule holds, and nothing else about the payer");
  await demoAttributes({ env, wallet, fmt, log });

  await api.close();
  await env.close();
  log("");
  log(`done in ${ms(performance.now() - T0)}`);
}

try {
  await main();
  await shutdownProver();
  process.exit(0);
} catch (err) {
  console.error("");
  console.error(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await shutdownProver().catch(() => {});
  process.exit(1);
}

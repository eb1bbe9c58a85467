/**
 * The paywall page's script (bundled as `paywall.js`; the gate serves it with the page
 * that a 402zk route answers a browser with). It runs the whole payer in the page:
 *
 * 1. connect the user's EIP-1193 wallet (`window.ethereum`) and check its network;
 * 2. derive the 402zk seed from a wallet signature ({@link deriveSeed}; never a private key);
 * 3. open the private wallet over IndexedDB ({@link IndexedDbNoteStore}), sync the pool's
 *    tree (progress bar), show the private balance;
 * 4. deposit (EIP-3009 signature, or approve + deposit when the token has no 3009);
 * 5. pay: prove in a Web Worker (progress bar), retry the request with the payment, and
 *    show the resource; or buy a session credential and present it from then on.
 *
 * Elements (ids) are documented in `sdk/server/paywall.ts`, which writes the page.
 */
import type { PaymentRequired, PaymentRequirements } from "@x402/core/types";
import {
  createPublicClient,
  createWalletClient,
  custom,
  defineChain,
  getAddress,
  keccak256,
  toHex,
  type Address,
  type PublicClient,
  type Hex,
} from "viem";

import { PrivateWallet } from "../client/wallet.js";
import { ZkPayError, isZkPayError } from "../core/errors.js";
import type { PaywallPageConfig } from "../core/paywall.js";
import type { ProofProgress } from "../core/prover.js";
import { SessionClient } from "../session/client.js";
import { SessionInfoSchema, type SessionInfo } from "../session/wire.js";
import { IndexedDbNoteStore, IndexedDbSessionStore } from "./idb.js";
import { deriveSeed, isUserRejection, type Eip1193Provider } from "./seed.js";
import { createWorkerProver, workerArtifacts, type WorkerProver } from "./worker-prover.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function show(id: string, visible: boolean): void {
  $(id).hidden = !visible;
}

function status(text: string): void {
  $("zk-status").textContent = text;
}

function progress(fraction: number | undefined, label = ""): void {
  const bar = $<HTMLProgressElement>("zk-progress");
  show("zk-progress-row", fraction !== undefined);
  if (fraction !== undefined) bar.value = Math.max(0, Math.min(1, fraction));
  $("zk-progress-label").textContent = label;
}

function fail(err: unknown): void {
  const box = $("zk-error");
  const reason = isZkPayError(err) ? err.reason : isUserRejection(err) ? "wallet_request_rejected" : "error";
  box.dataset.reason = reason;
  box.textContent = messageOf(err);
  box.hidden = false;
  progress(undefined);
}

function clearError(): void {
  const box = $("zk-error");
  box.hidden = true;
  box.textContent = "";
  delete box.dataset.reason;
}

function messageOf(err: unknown): string {
  if (isZkPayError(err, "insufficient_private_balance")) {
    return `Too little private balance for this payment. Deposit more first. (${err.message})`;
  }
  if (isZkPayError(err, "chain_mismatch")) return err.message;
  if (isZkPayError(err, "wallet_request_rejected") || isUserRejection(err)) {
    return "You rejected the request in your wallet. Nothing was signed or paid.";
  }
  return err instanceof Error ? err.message : String(err);
}

/** Token amounts in base units, shown with the token's decimals. */
function formatUnits(v: bigint, decimals: number): string {
  const s = v.toString().padStart(decimals + 1, "0");
  const whole = s.slice(0, s.length - decimals);
  const frac = s.slice(s.length - decimals).replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : whole;
}

function parseUnits(text: string, decimals: number): bigint {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*$/.exec(text);
  if (!m || (m[2]?.length ?? 0) > decimals) {
    throw new ZkPayError("invalid_argument", `"${text}" is not an amount with at most ${decimals} decimals`);
  }
  return BigInt(m[1]!) * 10n ** BigInt(decimals) + BigInt((m[2] ?? "").padEnd(decimals, "0") || "0");
}

const ERC20_META = [
  { type: "function", name: "decimals", stateMutability: "view", inputs: [], outputs: [{ type: "uint8" }] },
  { type: "function", name: "symbol", stateMutability: "view", inputs: [], outputs: [{ type: "string" }] },
  {
    type: "function",
    name: "balanceOf",
    stateMutability: "view",
    inputs: [{ type: "address" }],
    outputs: [{ type: "uint256" }],
  },
  // EIP-3009's view: present on tokens that take a signed transfer authorization (USDC).
  {
    type: "function",
    name: "authorizationState",
    stateMutability: "view",
    inputs: [{ type: "address" }, { type: "bytes32" }],
    outputs: [{ type: "bool" }],
  },
] as const;

/** The page's state once connected. */
interface Connected {
  account: Address;
  wallet: PrivateWallet;
  sessions: SessionClient;
  decimals: number;
  symbol: string;
  /** Whether the token takes EIP-3009 authorizations (one signature + one transaction per deposit). */
  eip3009: boolean;
  publicClient: PublicClient;
  requirement: PaymentRequirements;
  sessionInfo?: SessionInfo;
}

function requirementOf(pr: PaymentRequired): PaymentRequirements {
  const r = pr.accepts.find((a) => a.scheme === "zk-exact") ?? pr.accepts.find((a) => a.scheme === "zk-shielded");
  if (!r) throw new ZkPayError("unsupported_scheme", "this route accepts no 402zk payment (zk-exact or zk-shielded)");
  return r;
}

function chainIdOf(network: string): number {
  const m = /^eip155:(\d+)$/.exec(network);
  if (!m) throw new ZkPayError("chain_mismatch", `network ${network} is not an EVM chain`);
  return Number(m[1]);
}

async function connect(cfg: PaywallPageConfig, provider: Eip1193Provider, prover: WorkerProver): Promise<Connected> {
  const requirement = requirementOf(cfg.paymentRequired);
  const chainId = chainIdOf(requirement.network);
  const extra = requirement.extra as { facilitator: Address; vkeySha256: string; session?: unknown };
  status("Connecting your wallet…");
  const accounts = (await provider.request({ method: "eth_requestAccounts" }).catch((err: unknown) => {
    throw isUserRejection(err)
      ? new ZkPayError("wallet_request_rejected", "the wallet connection was rejected", {}, { cause: err })
      : err;
  })) as string[];
  if (!accounts?.[0]) throw new ZkPayError("wallet_request_rejected", "the wallet shared no account");
  const account = getAddress(accounts[0]);
  const walletChain = Number(await provider.request({ method: "eth_chainId" }));
  if (walletChain !== chainId) {
    throw new ZkPayError(
      "chain_mismatch",
      `Wrong network: your wallet is on chain ${walletChain}, this API is paid on chain ${chainId}. Switch networks in your wallet and reload.`,
      { expected: chainId, actual: walletChain },
    );
  }
  const scope = { origin: location.origin, chainId, facilitator: extra.facilitator, account };
  const scopeKey = `402zk:${chainId}:${extra.facilitator.toLowerCase()}:${account.toLowerCase()}`;
  // First visit for this account: sign twice and compare (a non-deterministic signer would lose the notes).
  const seen = localStorage.getItem(`${scopeKey}:seed-checked`) === "1";
  status(
    seen ? "Sign the message that unlocks your private wallet…" : "Sign the message that creates your private wallet…",
  );
  const seed = await deriveSeed(provider, scope, { confirm: !seen });
  localStorage.setItem(`${scopeKey}:seed-checked`, "1");

  const transport = custom(provider);
  // Every call goes through the user's wallet (its RPC); viem wants the chain named.
  const chain = defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [] } },
  });
  const publicClient = createPublicClient({ chain, transport }) as PublicClient;
  const walletClient = createWalletClient({ account, chain, transport });
  const [decimals, symbol] = await Promise.all([
    publicClient.readContract({ address: requirement.asset as Address, abi: ERC20_META, functionName: "decimals" }),
    publicClient.readContract({ address: requirement.asset as Address, abi: ERC20_META, functionName: "symbol" }),
  ]);
  const onProof = (p: ProofProgress) => progress(p.fraction, `Proving in your browser: ${p.message}`);
  status("Checking the circuit…");
  const [paymentArtifacts, presentationArtifacts] = await Promise.all([
    workerArtifacts("payment", cfg.artifactsBaseUrl, prover, extra.vkeySha256),
    workerArtifacts("presentation", cfg.artifactsBaseUrl, prover),
  ]);
  // One database per seed (its hash, never the seed) and pool.
  const db = `402zk-${chainId}-${extra.facilitator.toLowerCase()}-${keccak256(toHex(`402zk.idb:${seed}`)).slice(2, 18)}`;
  status("Syncing the pool…");
  progress(0, "Syncing the pool");
  const wallet = await PrivateWallet.open({
    seed: seed as Hex,
    pool: {
      chainId,
      facilitator: extra.facilitator,
      token: requirement.asset as Address,
      deploymentBlock: cfg.deploymentBlock,
    },
    publicClient,
    walletClient,
    store: new IndexedDbNoteStore(db),
    artifacts: paymentArtifacts,
    sync: { auto: false },
    onSyncProgress: (p) => {
      const span = Math.max(1, p.latestBlock - cfg.deploymentBlock);
      progress(
        (p.toBlock - cfg.deploymentBlock) / span,
        `Syncing the pool: block ${p.toBlock} of ${p.latestBlock}, ${p.leaves} notes`,
      );
    },
  });
  await wallet.sync();
  progress(undefined);
  const parsedSession = SessionInfoSchema.safeParse(extra.session);
  const sessions = await SessionClient.open({
    wallet,
    artifacts: presentationArtifacts,
    store: new IndexedDbSessionStore(`${db}-sessions`),
    buy: "never",
    payPerRequest: true,
    settlement: "server",
    prepareAhead: false,
    onProgress: onProof,
  });
  const eip3009 = await publicClient
    .readContract({
      address: requirement.asset as Address,
      abi: ERC20_META,
      functionName: "authorizationState",
      args: [account, `0x${"00".repeat(32)}`],
    })
    .then(
      () => true,
      () => false,
    );
  return {
    account,
    wallet,
    sessions,
    decimals,
    symbol,
    eip3009,
    publicClient,
    requirement,
    ...(parsedSession.success ? { sessionInfo: parsedSession.data } : {}),
  };
}

function showBalance(c: Connected): void {
  const b = c.wallet.balances();
  $("zk-balance").textContent = `${formatUnits(b.spendable, c.decimals)} ${c.symbol}`;
  $("zk-balance").dataset.baseUnits = b.spendable.toString();
  const held = c.sessions.credentials().filter((x) => !x.expired && x.remaining > 0);
  $("zk-session-status").textContent = held.length
    ? `Session credential: ${held.map((x) => `${x.remaining} requests left`).join(", ")}`
    : "";
}

async function showResource(res: Response): Promise<void> {
  const out = $("zk-resource");
  out.dataset.status = String(res.status);
  const type = res.headers.get("content-type") ?? "";
  const text = await res.text();
  if (!res.ok) {
    const reason = (() => {
      try {
        return (JSON.parse(text) as { error?: string }).error;
      } catch {
        return undefined;
      }
    })();
    throw new ZkPayError(
      (reason as never) ?? "invalid_payload",
      `The API answered ${res.status}${reason ? ` (${reason})` : ""}: ${text.slice(0, 300)}`,
    );
  }
  out.textContent = /json/.test(type) ? JSON.stringify(JSON.parse(text), null, 2) : text;
  show("zk-resource-box", true);
}

/**
 * Mounts the paywall on the page: reads `#zk402-config`, wires the buttons. Called by
 * the bundle when it loads.
 *
 * @example
 * mountPaywall(window.ethereum);
 */
export function mountPaywall(provider: Eip1193Provider | undefined): void {
  const cfg = JSON.parse($("zk402-config").textContent ?? "{}") as PaywallPageConfig;
  const requirement = requirementOf(cfg.paymentRequired);
  const resourceUrl = cfg.paymentRequired.resource?.url ?? location.href;
  let c: Connected | undefined;
  const busy = (on: boolean) => {
    for (const id of ["zk-connect", "zk-deposit", "zk-pay", "zk-buy-session"]) $<HTMLButtonElement>(id).disabled = on;
  };
  const run = (fn: () => Promise<void>) => async () => {
    clearError();
    busy(true);
    try {
      await fn();
    } catch (err) {
      fail(err);
    } finally {
      progress(undefined); // a sync's or a proof's bar ends with the action
      busy(false);
    }
  };

  if (!provider) {
    fail(
      new ZkPayError(
        "invalid_argument",
        "No Ethereum wallet found in this browser: install one (an EIP-1193 wallet) and reload.",
      ),
    );
    $<HTMLButtonElement>("zk-connect").disabled = true;
    return;
  }
  let prover: WorkerProver | undefined;
  // Another account or chain in the wallet is another private wallet: start over.
  provider.on?.("accountsChanged", () => c && location.reload());
  provider.on?.("chainChanged", () => c && location.reload());
  $("zk-connect").addEventListener(
    "click",
    run(async () => {
      // One worker per page, started on the first connect (a failed connect keeps it for the retry).
      prover ??= createWorkerProver(cfg.workerUrl);
      c = await connect(cfg, provider, prover);
      $("zk-account").textContent = c.account;
      show("zk-connected", true);
      show("zk-connect", false);
      $("zk-buy-session").hidden = !c.sessionInfo?.offers.length;
      const offer = c.sessionInfo?.offers[0];
      if (offer) {
        $("zk-buy-session").textContent =
          `Buy a session: ${offer.maxPresentations} requests for ${formatUnits(BigInt(offer.price), c.decimals)} ${c.symbol}`;
      }
      $<HTMLInputElement>("zk-deposit-amount").value =
        cfg.suggestedDeposit ?? formatUnits(BigInt(requirement.amount) * 10n, c.decimals);
      // EIP-3009 when the token has it (one signature, one transaction), else approve + deposit.
      const method = $<HTMLSelectElement>("zk-deposit-method");
      (method.querySelector('option[value="authorization"]') as HTMLOptionElement).disabled = !c.eip3009;
      method.value = c.eip3009 ? "authorization" : "approve";
      showBalance(c);
      status("Ready. Your payment will be private: the pool sees a proof, not your account.");
    }),
  );
  $("zk-deposit").addEventListener(
    "click",
    run(async () => {
      if (!c) return;
      const value = parseUnits($<HTMLInputElement>("zk-deposit-amount").value, c.decimals);
      if (value <= 0n) throw new ZkPayError("invalid_argument", "enter an amount above 0 to deposit");
      const held = await c.publicClient.readContract({
        address: c.requirement.asset as Address,
        abi: ERC20_META,
        functionName: "balanceOf",
        args: [c.account],
      });
      if (held < value) {
        throw new ZkPayError(
          "invalid_argument",
          `Your account holds ${formatUnits(held, c.decimals)} ${c.symbol}: deposit at most that (nothing was sent).`,
          { held: held.toString(), value: value.toString() },
        );
      }
      const method = $<HTMLSelectElement>("zk-deposit-method").value === "approve" ? "approve" : "authorization";
      status(
        method === "approve"
          ? "Confirm two transactions in your wallet: the approval, then the deposit…"
          : "Sign the transfer authorization, then confirm the deposit transaction…",
      );
      progress(0.1, "Depositing");
      let result;
      try {
        result = await c.wallet.deposit(value, { method });
      } catch (err) {
        if (isUserRejection(err) || isUserRejection((err as { cause?: unknown })?.cause)) {
          throw new ZkPayError(
            "wallet_request_rejected",
            "the deposit was rejected in your wallet",
            {},
            { cause: err },
          );
        }
        throw err;
      }
      progress(undefined);
      $("zk-last-tx").textContent = result.hash;
      await c.wallet.sync();
      showBalance(c);
      status(`Deposited ${formatUnits(value, c.decimals)} ${c.symbol} (transaction ${result.hash}).`);
    }),
  );
  $("zk-pay").addEventListener(
    "click",
    run(async () => {
      if (!c) return;
      status("Paying privately…");
      const res = await c.sessions.fetch(resourceUrl, { headers: { accept: "application/json" } });
      progress(undefined);
      await showResource(res);
      await c.wallet.sync();
      showBalance(c);
      const mode = c.sessions.lastRequest?.mode;
      status(
        mode === "prepared" || mode === "proved"
          ? "Served with your session credential (nothing paid)."
          : "Paid privately and served.",
      );
    }),
  );
  $("zk-buy-session").addEventListener(
    "click",
    run(async () => {
      if (!c?.sessionInfo) return;
      const offer = c.sessionInfo.offers[0]!;
      status("Buying a session credential…");
      await c.sessions.buy(new URL(resourceUrl).origin, c.sessionInfo, offer);
      progress(undefined);
      await c.wallet.sync();
      showBalance(c);
      status("Session credential bought: the next requests present it instead of paying.");
    }),
  );
}

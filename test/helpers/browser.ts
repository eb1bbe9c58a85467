/**
 * Headless Chromium for the browser tests and the bench: Debian's `chromium` driven by
 * puppeteer-core (nothing is downloaded), and an injected EIP-1193 wallet (`window.ethereum`)
 * backed by a local dev key in this process, the way a browser extension wallet backs a
 * page: the page asks, this side signs (personal_sign, eth_signTypedData_v4) and sends
 * transactions with the key; reads go to the chain's JSON-RPC.
 */
import { existsSync } from "node:fs";

import { JsonRpcProvider, NonceManager, Wallet, getBytes, type TypedDataField } from "ethers";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** Where Debian's chromium is (or $CHROMIUM). */
export function chromiumPath(): string | undefined {
  for (const p of [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (p && existsSync(p)) return p;
  }
  return undefined;
}

/** Launches headless Chromium (throws naming the package when it is not installed). */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) {
    throw new Error("chromium is not installed: apt-get install chromium (.ci/run installs it), or set CHROMIUM");
  }
  return puppeteer.launch({
    executablePath,
    headless: true,
    // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

/** The dev wallet behind a page's `window.ethereum`, and the knobs a test turns. */
export interface InjectedWallet {
  address: string;
  /** Report this chain id instead of the real one (a wallet on the wrong network). */
  chainIdOverride?: number;
  /** Refuse the next request of this method as a user would (EIP-1193 code 4001). */
  rejectNext?: string;
  /** Methods the page called, in order. */
  calls: string[];
}

/**
 * Installs `window.ethereum` in `page` (before any of its scripts run, on every
 * navigation), backed by `privateKey` on the chain at `rpcUrl`.
 *
 * @example
 * const wallet = await injectWallet(page, devPrivateKey(8), env.chain.url, env.pool.chainId);
 */
export async function injectWallet(
  page: Page,
  privateKey: string,
  rpcUrl: string,
  chainId: number,
): Promise<InjectedWallet> {
  const provider = new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: true, batchMaxCount: 1 });
  const signer = new Wallet(privateKey, provider);
  // The wallet numbers its own transactions, one at a time, as an extension wallet does
  // (a node's "pending" count can lag right after a mined transaction: "nonce too low").
  const sender = new NonceManager(signer);
  let sending: Promise<unknown> = Promise.resolve();
  const state: InjectedWallet = { address: signer.address, calls: [] };

  const handle = async (method: string, params: unknown[]): Promise<unknown> => {
    state.calls.push(method);
    if (state.rejectNext === method) {
      state.rejectNext = undefined;
      throw Object.assign(new Error("User rejected the request."), { code: 4001 });
    }
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return [signer.address];
      case "eth_chainId":
        return `0x${(state.chainIdOverride ?? chainId).toString(16)}`;
      case "personal_sign":
        return signer.signMessage(getBytes(String(params[0])));
      case "eth_signTypedData_v4": {
        const typed = JSON.parse(String(params[1])) as {
          domain: Record<string, unknown>;
          types: Record<string, TypedDataField[]>;
          message: Record<string, unknown>;
        };
        const { EIP712Domain: _domain, ...types } = typed.types;
        return signer.signTypedData(typed.domain, types, typed.message);
      }
      case "eth_sendTransaction":
      case "wallet_sendTransaction": {
        const tx = params[0] as { to?: string; data?: string; value?: string; gas?: string };
        const send = sending.then(() =>
          sender.sendTransaction({
            to: tx.to,
            data: tx.data,
            value: tx.value ? BigInt(tx.value) : 0n,
            ...(tx.gas ? { gasLimit: BigInt(tx.gas) } : {}),
          }),
        );
        sending = send.catch(() => sender.reset()); // a failed send must not leave a gap
        return (await send).hash;
      }
      default:
        return provider.send(method, params);
    }
  };

  await page.exposeFunction("__zk402Wallet", async (method: string, paramsJson: string) => {
    try {
      return { result: await handle(method, JSON.parse(paramsJson) as unknown[]) };
    } catch (err) {
      if (process.env.ZK402_DEBUG_WALLET) console.error(`injected wallet: ${method} failed:`, err);
      const e = err as { code?: unknown; message?: string; info?: { error?: { code?: number; message?: string } } };
      // A JSON-RPC error from the node keeps its code and message (reverts carry data).
      const rpc = e.info?.error;
      return {
        error: {
          code: typeof e.code === "number" ? e.code : (rpc?.code ?? -32603),
          message: rpc?.message ?? e.message ?? String(err),
        },
      };
    }
  });
  await page.evaluateOnNewDocument(() => {
    const call = (
      globalThis as unknown as {
        __zk402Wallet: (
          m: string,
          p: string,
        ) => Promise<{ result?: unknown; error?: { code: number; message: string } }>;
      }
    ).__zk402Wallet;
    (globalThis as unknown as { ethereum: unknown }).ethereum = {
      isZk402TestWallet: true,
      async request({ method, params }: { method: string; params?: unknown[] }) {
        const r = await call(method, JSON.stringify(params ?? []));
        if (r.error) throw Object.assign(new Error(r.error.message), { code: r.error.code });
        return r.result;
      },
      on() {},
      removeListener() {},
    };
  });
  return state;
}

/**
 * The browser payer end to end, in a real headless Chromium (Debian's `chromium`, driven by
 * puppeteer-core) against a real paid API (Express gate with sessions and the paywall) on a
 * local chain: the paywall page loads for a browser's navigation; a wrong network, a
 * rejected signature and too little balance each show their own message; the page
 * derives its wallet from the injected wallet's signature, deposits by EIP-3009, pays
 * with a proof made in its Web Worker and shows the resource; a reload keeps the notes
 * (IndexedDB) and pays again; a session credential bought from the page is presented
 * instead of paying. Each step writes a screenshot to docs/browser/ (the README shows them).
 */
import { mkdirSync } from "node:fs";
import path from "node:path";

import { expect } from "chai";
import type { Browser, Page } from "puppeteer-core";

import { devPrivateKey } from "../../scripts/lib/dev-env.js";
import { buildBrowser } from "../../scripts/build-browser.mjs";
import { shutdownProver } from "../../sdk/core/prover.js";
import { account, startEnv, type Env } from "../helpers/x402-env.js";
import { sessionApi } from "../helpers/session-env.js";
import { injectWallet, launchChromium, type InjectedWallet } from "../helpers/browser.js";
import { browserBundleStaleness } from "../helpers/cli-build.js";

const SHOTS = path.resolve("docs/browser");
const PAYER = 8; // dev account that holds the tokens and signs in the page

describe("Browser payer (402zk/browser) in headless Chromium", function () {
  this.timeout(240_000);
  let env: Env;
  let api: Awaited<ReturnType<typeof sessionApi>>;
  let browser: Browser;
  let page: Page;
  let injected: InjectedWallet;
  const pageErrors: string[] = [];

  before(async function () {
    this.timeout(240_000);
    // The page's bundles, rebuilt only when a source is newer (prepare built them in CI).
    if (browserBundleStaleness() !== undefined) await buildBrowser({ quiet: true });
    env = await startEnv();
    api = await sessionApi(env, {
      payTo: account(9).address,
      paywall: {
        deploymentBlock: env.pool.deploymentBlock,
        appName: "Weather API (402zk test)",
        suggestedDeposit: "0.1",
      },
    });
    await env.mint(account(PAYER).address, 1_000_000n); // 1 USDC to deposit from
    mkdirSync(SHOTS, { recursive: true });
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setViewport({ width: 900, height: 760 });
    page.on("pageerror", (err) => pageErrors.push(String(err)));
    injected = await injectWallet(page, devPrivateKey(PAYER), env.chain.url, env.pool.chainId);
  });

  after(async function () {
    await browser?.close();
    await api?.close();
    await env?.chain.close();
    await shutdownProver();
  });

  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) as `${string}.png` });
  const click = (id: string) => page.click(`#${id}`);
  const text = (id: string) => page.$eval(`#${id}`, (e) => e.textContent ?? "");
  /** Waits until the page shows an error or `id` becomes visible; returns the error's reason if any. */
  async function settle(ok: string, timeout = 120_000): Promise<string | undefined> {
    await page.waitForFunction(
      (okId: string) => {
        const err = document.getElementById("zk-error");
        const el = document.getElementById(okId) as HTMLElement | null;
        return (err && !err.hidden) || (el && !el.hidden && !(el as HTMLButtonElement).disabled);
      },
      { timeout, polling: 100 },
      ok,
    );
    return page.$eval("#zk-error", (e) => ((e as HTMLElement).hidden ? undefined : (e as HTMLElement).dataset.reason));
  }
  async function waitIdle(timeout = 120_000): Promise<string | undefined> {
    await page.waitForFunction(() => !(document.getElementById("zk-pay") as HTMLButtonElement).disabled, {
      timeout,
      polling: 100,
    });
    return page.$eval("#zk-error", (e) =>
      (e as HTMLElement).hidden ? undefined : `${(e as HTMLElement).dataset.reason}: ${e.textContent}`,
    );
  }

  it("a browser's navigation to a paid route gets the paywall page (402, HTML); API clients still get JSON", async function () {
    const res = await page.goto(`${api.url}/data`, { waitUntil: "networkidle0" });
    expect(res?.status()).to.equal(402);
    expect(res?.headers()["content-type"]).to.match(/text\/html/);
    expect(await page.$("#zk-connect")).to.not.equal(null);
    expect(res?.headers()["payment-required"], "the x402 header is still there for programs").to.be.a("string");
    const json = await fetch(`${api.url}/data`);
    expect(json.status).to.equal(402);
    expect(json.headers.get("content-type") ?? "").to.not.match(/html/);
    // The files the page loads are served by the gate, nothing else under the prefix.
    expect((await fetch(`${api.url}/.well-known/402zk/paywall/prover-worker.js`)).status).to.equal(200);
    expect((await fetch(`${api.url}/.well-known/402zk/artifacts/payment.zkey`)).status).to.equal(200);
    expect((await fetch(`${api.url}/.well-known/402zk/artifacts/../package.json`)).status).to.not.equal(200);
    await shot("01-paywall");
  });

  it("a wallet on the wrong network and a rejected signature each get their own message; nothing is signed or paid", async function () {
    injected.chainIdOverride = 1;
    await click("zk-connect");
    expect(await settle("zk-connected")).to.equal("chain_mismatch");
    expect(await text("zk-error")).to.match(/Wrong network.*chain 1.*chain 31337/);
    await shot("02-wrong-network");
    injected.chainIdOverride = undefined;

    injected.rejectNext = "personal_sign";
    await click("zk-connect");
    expect(await settle("zk-connected")).to.equal("wallet_request_rejected");
    expect(await text("zk-error")).to.match(/rejected/);
    await shot("03-signature-rejected");
  });

  it("connects: the seed comes from two identical signatures (first visit), the pool syncs, the balance is 0; paying then says too little balance", async function () {
    const signsBefore = injected.calls.filter((m) => m === "personal_sign").length;
    await click("zk-connect");
    expect(await settle("zk-connected")).to.equal(undefined);
    expect(injected.calls.filter((m) => m === "personal_sign").length - signsBefore).to.equal(2);
    expect(await page.$eval("#zk-balance", (e) => (e as HTMLElement).dataset.baseUnits)).to.equal("0");
    await click("zk-pay");
    expect(await waitIdle()).to.match(/^insufficient_private_balance:/);
    expect(await text("zk-error")).to.match(/Too little private balance/);
    await shot("04-too-little-balance");
  });

  it("deposits by EIP-3009 signature from the page", async function () {
    await page.$eval("#zk-deposit-amount", (e) => ((e as HTMLInputElement).value = "0.1"));
    await click("zk-deposit");
    expect(await waitIdle()).to.equal(undefined);
    expect(injected.calls).to.include("eth_signTypedData_v4");
    expect(await page.$eval("#zk-balance", (e) => (e as HTMLElement).dataset.baseUnits)).to.equal("100000");
    expect(await text("zk-last-tx")).to.match(/^0x[0-9a-f]{64}$/);
    await shot("05-deposited");
  });

  it("pays with a proof made in the page's Web Worker and shows the resource", async function () {
    await click("zk-pay");
    expect(await waitIdle()).to.equal(undefined);
    expect(JSON.parse(await text("zk-resource"))).to.deep.include({ data: "ok" });
    expect(api.served.data).to.equal(1);
    // price 10,000 + the relayer's fee left the private balance
    const left = BigInt((await page.$eval("#zk-balance", (e) => (e as HTMLElement).dataset.baseUnits)) ?? "0");
    expect(left <= 90_000n && left > 0n, `balance after paying: ${left}`).to.equal(true);
    await shot("06-paid");
  });

  it("a reload keeps the notes (IndexedDB) and pays a second time; one signature on a return visit", async function () {
    const before = await page.$eval("#zk-balance", (e) => (e as HTMLElement).dataset.baseUnits);
    const dbs = await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ""));
    expect(dbs.some((n) => n.startsWith("402zk-"))).to.equal(true);
    await page.reload({ waitUntil: "networkidle0" });
    const signs = injected.calls.filter((m) => m === "personal_sign").length;
    await click("zk-connect");
    expect(await settle("zk-connected")).to.equal(undefined);
    expect(injected.calls.filter((m) => m === "personal_sign").length - signs).to.equal(1);
    expect(await page.$eval("#zk-balance", (e) => (e as HTMLElement).dataset.baseUnits)).to.equal(before);
    await click("zk-pay");
    expect(await waitIdle()).to.equal(undefined);
    expect(api.served.data).to.equal(2);
    await shot("07-reloaded-paid-again");
  });

  it("buys a session credential from the page and presents it: served without paying", async function () {
    await page.waitForSelector("#zk-buy-session:not([hidden])");
    await click("zk-buy-session");
    expect(await waitIdle()).to.equal(undefined);
    expect(await text("zk-session-status")).to.match(/3 requests left/);
    const balance = await page.$eval("#zk-balance", (e) => (e as HTMLElement).dataset.baseUnits);
    await click("zk-pay");
    expect(await waitIdle()).to.equal(undefined);
    expect(await text("zk-status")).to.match(/session credential/);
    expect(api.served.data).to.equal(3);
    expect(await page.$eval("#zk-balance", (e) => (e as HTMLElement).dataset.baseUnits)).to.equal(balance);
    expect(await text("zk-session-status")).to.match(/2 requests left/);
    await shot("08-session");
  });

  it("deposits by approve + deposit too, and refuses a deposit above the account's token balance before sending anything", async function () {
    const before = BigInt((await page.$eval("#zk-balance", (e) => (e as HTMLElement).dataset.baseUnits)) ?? "0");
    const sent = injected.calls.filter((m) => m === "eth_sendTransaction").length;
    await page.$eval("#zk-deposit-amount", (e) => ((e as HTMLInputElement).value = "5"));
    await click("zk-deposit");
    expect(await waitIdle()).to.match(/^invalid_argument: Your account holds 0\.9 USDC/);
    expect(injected.calls.filter((m) => m === "eth_sendTransaction").length).to.equal(sent);
    await page.select("#zk-deposit-method", "approve");
    await page.$eval("#zk-deposit-amount", (e) => ((e as HTMLInputElement).value = "0.05"));
    await click("zk-deposit");
    expect(await waitIdle()).to.equal(undefined);
    expect(injected.calls.filter((m) => m === "eth_sendTransaction").length - sent).to.equal(2); // approve, deposit
    const after = BigInt((await page.$eval("#zk-balance", (e) => (e as HTMLElement).dataset.baseUnits)) ?? "0");
    expect(after - before).to.equal(50_000n);
    expect(pageErrors, pageErrors.join("\n")).to.deep.equal([]);
  });
});

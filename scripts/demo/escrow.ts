/**
 * The demo's proof-before-pay step (issue #20): the agent pays an inference API through
 * escrow. The API proves, with the `inference` circuit, that its committed model ran on the
 * agent's image; the pool releases the payment only against that proof, and the agent
 * accepts the result only after verifying it. Then a second API "crashes" between proving
 * and releasing: the money stays in escrow, and after the deadline the agent's wallet
 * refunds itself into a private note.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { erc20Abi, type Address, type Hash } from "viem";

import { payForInference } from "../../sdk/client/proof-before-pay.js";
import type { PrivateWallet } from "../../sdk/client/wallet.js";
import { isZkPayError } from "../../sdk/core/errors.js";
import { createProofBeforePay } from "../../sdk/server/proof-before-pay.js";
import {
  inferenceArtifacts,
  loadInferenceModel,
  loadInferenceSamples,
  loadInferenceVerificationKey,
} from "../../sdk/node/artifacts.js";
import type { DemoChain } from "../lib/dev-env.js";
import { devAccount } from "../lib/dev-env.js";
import { gas, ms, timed } from "../lib/format.js";
import { short } from "./observer.js";

/** What {@link demoEscrow} needs from the rest of the demo. */
export interface EscrowDemoOptions {
  env: DemoChain;
  wallet: PrivateWallet;
  /** Dev account index of the inference API's owner (it settles and releases). */
  apiIndex: number;
  fmt: (v: bigint) => string;
  log: (s?: string) => void;
}

const PRICE = 20_000n; // 0.02 USDC

/** Runs the proof-before-pay step and prints it. */
export async function demoEscrow(o: EscrowDemoOptions): Promise<void> {
  const { env, wallet, fmt, log } = o;
  const found = env.deployment.escrow?.serviceVerifiers.inference;
  if (!found) throw new Error("the demo pool has no escrow (deploy with escrow: true)");
  const verifier: Address = found;
  const model = loadInferenceModel();
  const vkey = loadInferenceVerificationKey();
  const artifacts = inferenceArtifacts();
  const samples = loadInferenceSamples();
  const api = devAccount(o.apiIndex);
  const walletClient = env.walletClientFor(o.apiIndex);
  const balanceOf = (a: Address) =>
    env.publicClient.readContract({ address: env.pool.token, abi: erc20Abi, functionName: "balanceOf", args: [a] });

  async function serve(crash: boolean): Promise<{ url: string; server: Server }> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/infer`;
    const route = createProofBeforePay({
      pool: env.pool,
      publicClient: env.publicClient,
      walletClient,
      price: PRICE,
      verifier,
      model,
      artifacts,
      resource: url,
      maxTimeoutSeconds: 60,
      deadlineSeconds: 300,
      beforeRelease: crash
        ? () => {
            throw new Error("the API process died after proving, before sending release");
          }
        : undefined,
    });
    server.on("request", route.nodeHandler());
    return { url, server };
  }

  log(
    `  the API publishes its model: a 196-25-10 MLP (binary weights), commitment ${short(`0x${model.modelCommitment.toString(16)}`, 8)}`,
  );
  log(`  service verifier ${verifier} (registered in the pool by its operator)`);

  // 1. A proof-before-pay inference, accepted after verification.
  const good = await serve(false);
  const sample = samples[3]!;
  const apiBefore = await balanceOf(api.address);
  const r = await timed(() =>
    payForInference(wallet, {
      url: good.url,
      pixels: sample.pixels,
      vkey,
      expectedModelCommitment: model.modelCommitment,
    }),
  );
  const paid = r.value;
  const [payRc, releaseRc] = await Promise.all([
    env.publicClient.getTransactionReceipt({ hash: paid.payTx }),
    env.publicClient.getTransactionReceipt({ hash: paid.releaseTx }),
  ]);
  log(
    `  agent -> POST ${good.url} with a 14x14 image of a ${sample.label}: the API answered ${paid.label} (logits ${paid.logits.join(", ")})`,
  );
  log(
    `    verified: the service proof holds for this model, this input and this escrow, and encrypts exactly this result`,
  );
  log(
    `    payEscrowed ${short(paid.payTx, 6)} (${gas(Number(payRc.gasUsed))} gas): ${fmt(paid.price)} held in the pool`,
  );
  log(
    `    release     ${short(paid.releaseTx, 6)} (${gas(Number(releaseRc.gasUsed))} gas): the pool verified the inference proof and paid the API`,
  );
  log(
    `    e2e ${ms(paid.timings.totalMs)} (payment proof ${ms(paid.timings.paymentProveMs)}, API escrow + inference proof + release ${ms(paid.timings.serverMs)}, local verify ${ms(paid.timings.verifyMs)})`,
  );
  log(`    the API's balance: +${fmt((await balanceOf(api.address)) - apiBefore)}`);
  good.server.close();

  // 2. The API crashes between proving and releasing: nothing is lost.
  const crashing = await serve(true);
  const before = wallet.balance();
  let escrowId: string | undefined;
  try {
    await payForInference(wallet, { url: crashing.url, pixels: samples[7]!.pixels, vkey });
    throw new Error("the crashing API was expected to fail");
  } catch (err) {
    if (!isZkPayError(err)) throw err;
    escrowId = String(err.details.escrowId);
    log(`  a second API crashes after proving: the agent gets ${err.reason} (${err.message.split(":")[0]})`);
  }
  crashing.server.close();
  const id = escrowId as Hash;
  log(`    escrow ${short(id, 6)} is ${await wallet.escrowStatus(id)}: the agent's ${fmt(PRICE)} stays in the pool`);
  // Nobody can refund before the deadline: the API may still release with its proof.
  const early = await wallet.followEscrows();
  log(`    before the deadline the wallet leaves it: ${early.map((e) => e.status).join(", ")}`);
  const rec = wallet.escrows().find((e) => e.id === id)!;
  const latest = await env.publicClient.getBlock();
  const wait = Number(BigInt(rec.statement.deadline) - latest.timestamp) + 1;
  await env.publicClient.request({ method: "evm_increaseTime" as never, params: [wait] as never });
  await env.publicClient.request({ method: "evm_mine" as never, params: [] as never });
  log(`    (the local chain skips ${wait} s to the deadline)`);
  const outcome = await wallet.followEscrows();
  const refund = outcome.find((e) => e.id === id)!;
  await wallet.sync();
  log(
    `    after it, the wallet refunds by itself: ${refund.status}, tx ${short(refund.refundTx ?? "0x", 6)}; private balance ${fmt(before)} -> ${fmt(wallet.balance())}`,
  );
}

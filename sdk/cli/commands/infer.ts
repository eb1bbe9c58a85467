/**
 * `402zk infer <url> --sample <n>` (or `--image <file.json>`): pays a proof-before-pay
 * route (`zk-escrow`) for one inference and prints the verdict. The payment is held in
 * escrow until the API proves, with the `inference` circuit, that its committed model ran
 * on this image; the result is accepted only after the proof verifies here. An API that
 * does not deliver leaves the money in escrow: `402zk escrows` refunds it after the deadline.
 */
import { readFileSync } from "node:fs";

import type { Command } from "commander";

import { payForInference } from "../../client/proof-before-pay.js";
import { ZkPayError } from "../../core/errors.js";
import { loadInferenceSamples, loadInferenceVerificationKey } from "../../node/artifacts.js";
import { formatAmount, parseAmount } from "../amount.js";
import type { CommandEnv } from "../command.js";
import { info, ms, out } from "../output.js";
import { progressBar } from "../progress.js";

/** Flags of `infer`. */
interface InferFlags {
  sample?: string;
  image?: string;
  max?: string;
  model?: string;
  json?: boolean;
}

/** The image to send: a committed sample, or a JSON file of 196 pixels (or `{ "pixels": [...] }`). */
function imageOf(o: InferFlags): { pixels: number[]; label?: number } {
  if ((o.sample === undefined) === (o.image === undefined)) {
    throw new ZkPayError("invalid_argument", "give --sample <0..9> or --image <file.json>, one of them");
  }
  if (o.sample !== undefined) {
    const samples = loadInferenceSamples();
    const i = Number(o.sample);
    if (!Number.isInteger(i) || i < 0 || i >= samples.length) {
      throw new ZkPayError("invalid_argument", `--sample must be 0..${samples.length - 1}, got ${o.sample}`);
    }
    return samples[i]!;
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(o.image!, "utf8"));
  } catch (err) {
    throw new ZkPayError("invalid_argument", `--image ${o.image}: ${(err as Error).message}`);
  }
  const pixels = Array.isArray(json) ? json : (json as { pixels?: unknown } | null)?.pixels;
  if (!Array.isArray(pixels)) {
    throw new ZkPayError("invalid_argument", `--image ${o.image}: expected [196 pixels] or { "pixels": [...] }`);
  }
  return { pixels: pixels as number[] };
}

/** Registers `infer` on the program. */
export function register(program: Command, env: CommandEnv): void {
  program
    .command("infer")
    .description(
      "pay a proof-before-pay API (zk-escrow) for one inference: released only against a proof that its model ran on your image, verified here",
    )
    .argument("<url>", "the route, e.g. http://127.0.0.1:4021/infer")
    .option("--sample <n>", "send the committed sample image n (0..9)")
    .option("--image <file>", "send a JSON file of 196 pixels 0..255 (14x14, row-major)")
    .option("--max <amount>", "largest price accepted, in tokens")
    .option("--model <commitment>", "refuse a route whose model commitment is not this one (decimal or 0x)")
    .option("--json", "print JSON")
    .action(async (url: string, o: InferFlags, cmd: Command) => {
      const ctx = env.ctxOf(cmd);
      const image = imageOf(o);
      const maxPrice = o.max === undefined ? undefined : parseAmount(o.max, ctx.decimals, "--max");
      let expectedModelCommitment: bigint | undefined;
      if (o.model !== undefined) {
        try {
          expectedModelCommitment = BigInt(o.model);
        } catch {
          throw new ZkPayError("invalid_argument", `--model must be a number, got ${o.model}`);
        }
      }
      const wallet = await ctx.openWallet();
      const bar = progressBar({ enabled: !o.json });
      const r = await payForInference(wallet, {
        url,
        pixels: image.pixels,
        vkey: loadInferenceVerificationKey(),
        maxPrice,
        expectedModelCommitment,
        onProgress: bar.update,
      }).finally(() => bar.end());
      if (o.json) {
        out(JSON.stringify({ ok: true, ...r, price: r.price.toString() }));
        return;
      }
      out(
        `result     ${r.label}  (logits ${r.logits.join(", ")})${image.label !== undefined ? `; the sample is a ${image.label}` : ""}`,
      );
      out("verdict    VERIFIED: the API's proof holds for its committed model, this image and this escrow,");
      out("           and encrypts exactly the result it sent");
      out(
        `paid       ${formatAmount(r.price, ctx.decimals)} ${ctx.symbol} to ${r.payTo}, held in escrow then released`,
      );
      out(`escrow     ${r.escrowId}`);
      out(`payEscrowed ${ctx.tx(r.payTx)}`);
      out(`release    ${ctx.tx(r.releaseTx)}`);
      info(
        `${ms(r.timings.totalMs)} (payment proof ${ms(r.timings.paymentProveMs)}, API ${ms(r.timings.serverMs)}, verify ${ms(r.timings.verifyMs)})`,
      );
    });
}

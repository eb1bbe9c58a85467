/**
 * `402zk serve`: an example paid API (GET /weather, POST /order) paid with zk-exact to a
 * public address, or with zk-shielded to the wallet's shielded address (`--shielded`: payee
 * and amount hidden on chain), optionally selling session credentials; the server itself
 * is ../paid-api.ts.
 */
import path from "node:path";

import type { Command } from "commander";
import type { Address, Hex } from "viem";

import { caip2 } from "../../core/deployment.js";
import { ZkPayError } from "../../core/errors.js";
import { WalletKeys } from "../../core/keys.js";
import { isShieldedAddress } from "../../core/shielded-address.js";
import type { ShieldedPayeeConfig } from "../../core/shielded-payee.js";
import type { SessionOfferConfig } from "../../session/service.js";
import { formatAmount, parseAmount } from "../amount.js";
import { address, collect, confirmationsOf, positiveInt } from "../args.js";
import type { CommandEnv } from "../command.js";
import { defaultWalletDir, loadOrCreateSecret, loadOrCreateSeed } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { info, out } from "../output.js";

/**
 * A `serve --session-offer` spec, "id:requests:price:hours" (price in tokens), as a tier-1
 * offer: "basic:10:0.05:1" sells 10 requests within one hour for 0.05.
 */
export function sessionOffer(spec: string, decimals: number): SessionOfferConfig {
  const [id, requests, price, hours, ...rest] = spec.split(":");
  const bad = (why: string) =>
    new ZkPayError(
      "invalid_argument",
      `--session-offer ${spec}: ${why} (expected id:requests:price:hours, e.g. basic:10:0.05:1)`,
    );
  if (rest.length > 0 || hours === undefined) throw bad("four fields");
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(id!)) throw bad("the id is a short lowercase slug");
  const n = Number(requests);
  if (!Number.isInteger(n) || n < 1) throw bad("requests is a positive integer");
  const h = Number(hours);
  if (!(Number.isFinite(h) && h > 0) || !Number.isInteger(h * 3600)) throw bad("hours is a positive number of hours");
  const value = parseAmount(price!, decimals, "price");
  if (value === 0n) throw bad("the price is positive");
  return { id: id!, tier: 1, durationSeconds: h * 3600, maxPresentations: n, price: value };
}

/** Registers `serve` on the program. */
export function register(program: Command, env: CommandEnv): void {
  program
    .command("serve")
    .description(
      "run an example paid API: GET /weather and POST /order, paid with zk-exact, or zk-shielded with --shielded (your EOA relays server-settled payments)",
    )
    .option("--port <port>", "port (0 = random)", "4021")
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option("--price <amount>", "price of GET /weather and POST /order in tokens", "0.01")
    .option("--sessions", "also sell session credentials (pay once, then present it: 402zk pay --session)")
    .option(
      "--session-offer <id:requests:price:hours>",
      'with --sessions: an offer, repeatable (default "basic:10:<5 x price>:1")',
      collect,
      [],
    )
    .option(
      "--state <dir>",
      "with --sessions: folder of the issuer key (issuer-key, created 0600; or $ZK402_ISSUER_KEY); default ~/.402zk/<network>/serve",
    )
    .option(
      "--pay-to <address>",
      "who gets paid: a 0x address (zk-exact; default your EOA), or a shielded address zk402... with --viewing-key",
    )
    .option(
      "--shielded",
      "be paid zk-shielded at this wallet's shielded address (seed: $ZK402_SEED or <wallet>/seed): payee and amount hidden on chain",
    )
    .option(
      "--viewing-key <key>",
      "with a shielded --pay-to: its viewing key zk402view1... (or $ZK402_VIEWING_KEY); the server never needs the spending key",
    )
    .option("--fee <amount>", "relayer fee for server-settled payments, in tokens", "0")
    .option(
      "--confirmations <n>",
      "confirmations required for client-settled receipts (default: the chain's: 1 local, 2 on Base and Base Sepolia, 3 elsewhere)",
    )
    .option("--drain-timeout <seconds>", "on Ctrl-C/SIGTERM, how long requests in flight may take to finish", "30")
    .action(
      async (
        o: {
          port: string;
          host: string;
          price: string;
          payTo?: string;
          fee: string;
          confirmations?: string;
          drainTimeout: string;
          sessions?: boolean;
          sessionOffer: string[];
          state?: string;
          shielded?: boolean;
          viewingKey?: string;
        },
        cmd: Command,
      ) => {
        const ctx = env.ctxOf(cmd);
        if (o.sessionOffer.length > 0 && !o.sessions)
          throw new ZkPayError("invalid_argument", "--session-offer needs --sessions");
        // The payee: a shielded one (the wallet's keys, or an address with its viewing key),
        // or a public address.
        let shielded: ShieldedPayeeConfig | undefined;
        let payTo: Address | undefined;
        const viewingKey = (o.viewingKey ?? process.env.ZK402_VIEWING_KEY)?.trim() || undefined;
        if (o.shielded) {
          if (o.payTo)
            throw new ZkPayError("invalid_argument", "--shielded is paid at this wallet's address: drop --pay-to");
          const s = loadOrCreateSeed(ctx.walletDir);
          if (s.created)
            info(`created a new wallet seed in ${s.source} (mode 0600): back it up, it holds the notes paid to you`);
          shielded = { keys: WalletKeys.fromSeed(s.seed) };
        } else if (o.payTo && isShieldedAddress(o.payTo)) {
          if (!viewingKey)
            throw new ZkPayError(
              "invalid_argument",
              "a shielded --pay-to needs its --viewing-key (402zk address --viewing-key), to open the notes paid to it",
            );
          shielded = { viewingKey, address: o.payTo };
        } else {
          if (o.viewingKey) throw new ZkPayError("invalid_argument", "--viewing-key goes with a shielded --pay-to");
          payTo = o.payTo ? address(o.payTo, "--pay-to") : ctx.account?.address;
          if (!payTo)
            throw new ZkPayError(
              "invalid_argument",
              "serve needs --pay-to, --shielded, or an EOA (--private-key / ZK402_PRIVATE_KEY) to be paid",
            );
        }
        const price = parseAmount(o.price, ctx.decimals, "--price");
        if (price === 0n) throw new ZkPayError("invalid_argument", "--price must be positive");
        if (!(Number(o.drainTimeout) >= 0))
          throw new ZkPayError("invalid_argument", "--drain-timeout must be a non-negative number of seconds");
        const fee = parseAmount(o.fee, ctx.decimals, "--fee");
        if (fee > 0n && !ctx.walletClient)
          throw new ZkPayError("invalid_argument", "--fee needs a relayer EOA (--private-key)");
        const chainId = await ctx.publicClient.getChainId();
        if (chainId !== ctx.deployment.chainId) {
          throw new CliError(
            EXIT.usage,
            "chain_mismatch",
            `RPC ${ctx.rpc} is on chain ${chainId}, the ${ctx.network} pool on ${ctx.deployment.chainId}`,
          );
        }
        const secret = process.env.ZK402_CHALLENGE_SECRET;
        const d = ctx.decimals;
        const minConfirmations = confirmationsOf(o.confirmations, ctx.deployment.chainId);
        let sessions: { issuerKey: Hex; offers: SessionOfferConfig[] } | undefined;
        if (o.sessions) {
          const offers =
            o.sessionOffer.length > 0
              ? o.sessionOffer.map((spec) => sessionOffer(spec, d))
              : [{ id: "basic", tier: 1, durationSeconds: 3600, maxPresentations: 10, price: price * 5n }];
          const dir = path.resolve(o.state ?? path.join(defaultWalletDir(ctx.network), "serve"));
          const key = loadOrCreateSecret(dir, "issuer-key", "ZK402_ISSUER_KEY");
          if (key.created)
            info(
              `created a session issuer key in ${key.source} (mode 0600): keep it, credentials sold are signed with it`,
            );
          sessions = { issuerKey: key.secret, offers };
        }
        // Loaded here: the paid API runs on Express, an optional peer dependency that only
        // this command needs (every other command, and --help, run without it).
        const { startPaidApi } = await import("../paid-api.js");
        const api = await startPaidApi({
          pool: {
            chainId: ctx.deployment.chainId,
            facilitator: ctx.deployment.facilitator as Address,
            token: ctx.deployment.token as Address,
            decimals: d,
          },
          publicClient: ctx.publicClient,
          relayer: ctx.walletClient,
          payTo,
          shielded,
          price: `${formatAmount(price, d, 0)}`,
          challengeSecret: secret,
          fee,
          minConfirmations,
          sessions,
          host: o.host,
          port: positiveInt(o.port, "--port"),
          onSettled: (e) =>
            info(
              `${new Date().toISOString()} paid ${e.path || "/weather"}: ${formatAmount(BigInt(e.amount), d)} ${ctx.symbol}, ${e.mode}-settled, receipt ${e.receiptId ?? "?"}, tx ${e.result.transaction ? ctx.tx(e.result.transaction) : "(already settled)"}`,
            ),
        });
        out(`402zk example API on ${api.url}`);
        out(
          `  GET ${api.url}/weather  ${formatAmount(price, d)} ${ctx.symbol} (${api.scheme}, ${caip2(ctx.deployment.chainId)}) -> ${api.payTo}`,
        );
        out(
          `  POST ${api.url}/order   ${formatAmount(price, d)} ${ctx.symbol} (settled before the order is placed; echoes the body)`,
        );
        for (const x of api.sessions?.offers ?? []) {
          out(
            `  session "${x.id}": ${x.maxPresentations} requests within ${x.durationSeconds / 3600} h for ${formatAmount(x.price, d)} ${ctx.symbol} (POST ${api.url}${api.sessions!.purchasePath(x.id)}; 402zk pay --session --offer ${x.id})`,
          );
        }
        out(
          ctx.account
            ? `  settlement: server (relayer ${ctx.account.address}${fee > 0n ? `, fee ${formatAmount(fee, d)}` : ""}) or client`
            : "  settlement: client only (no --private-key: nobody relays)",
        );
        if (shielded)
          info(
            `  shielded payee ${api.payTo}: payments arrive as private notes (402zk balance with this wallet shows them; 402zk withdraw moves them)`,
          );
        if (!secret)
          info("challenge secret: random (set ZK402_CHALLENGE_SECRET to share it between instances or restarts)");
        info("Ctrl-C to stop (requests in flight finish first, at most --drain-timeout)");
        const drainMs = Number(o.drainTimeout) * 1000;
        await env.onServe(async () => {
          const running = api.inFlight();
          if (running > 0) info(`finishing ${running} request(s) in flight (at most ${o.drainTimeout} s)`);
          await api.drain(drainMs);
        });
      },
    );
}

/**
 * Session credentials in the CLI: `402zk pay --session <url>` fetches a paid URL through
 * a SessionClient (presents a stored credential, or buys one on the first 402);
 * `402zk credentials` (commands/credentials.ts) lists what `<wallet>/sessions.json` holds.
 */
import path from "node:path";

import { decodePaymentRequiredHeader } from "@x402/core/http";

import { ZkPayError, isZkPayError } from "../core/errors.js";
import { presentationArtifacts } from "../node/artifacts.js";
import { FileSessionStore } from "../node/session-store.js";
import { SessionClient } from "../session/client.js";
import { SessionInfoSchema, type SessionInfo } from "../session/wire.js";
import { ZK_SCHEME } from "../core/wire.js";
import { formatAmount } from "./amount.js";
import type { CliContext } from "./context.js";
import { CliError, EXIT } from "./errors.js";
import { info, isoSeconds, ms, out } from "./output.js";
import { recordingFetch } from "./exchange.js";
import { progressBar } from "./progress.js";

/** Where the CLI keeps session credentials: beside the wallet's notes. */
export function sessionStoreFile(walletDir: string): string {
  return path.join(walletDir, "sessions.json");
}

/** Options of {@link paySession} (the `pay` flags that apply to it). */
export interface PaySessionOptions {
  /** Refuse credential offers above this price (base units). */
  maxAmount: bigint;
  timeoutMs: number;
  json?: boolean;
  /** Buy this offer (by id) when no stored credential serves the URL. Default: the cheapest per request. */
  offer?: string;
  /** `--relay`: not supported with sessions. */
  relay?: string;
  /** Method, headers and body of the request (`pay -X/-d/-H`). Default GET. */
  init?: RequestInit;
}

/**
 * `402zk pay --session <url>`: GET `url` with a stored session credential, buying one on
 * the first 402 (within --max). Prints the body on stdout and the credential's remaining
 * presentations on stderr (or one JSON object with --json). Never pays per request: a URL
 * that sells no credential (or none within --max) is refused; pay it without --session.
 */
export async function paySession(ctx: CliContext, url: string, o: PaySessionOptions): Promise<void> {
  if (o.relay) throw new ZkPayError("invalid_argument", "--relay does not apply to --session purchases");
  const origin = new URL(url).origin;
  const d = ctx.decimals;
  const tokens = (v: bigint | string) => `${formatAmount(BigInt(v), d)} ${ctx.symbol}`;
  const wallet = await ctx.openWallet(); // also locks the wallet folder, sessions.json included
  const store = new FileSessionStore(sessionStoreFile(ctx.walletDir));
  const bar = progressBar({ label: "proving" });
  const rec = recordingFetch(fetch, AbortSignal.timeout(o.timeoutMs));
  // A route of a known origin that this wallet has not asked yet may sell no session:
  // ask it once without a credential, and refuse it here (no_session_offered) rather than
  // let a refusal read as "no offer within --max".
  const routeKey = `${(o.init?.method ?? "GET").toUpperCase()} ${new URL(url).pathname}`;
  let res: Response | undefined;
  const state = await store.load();
  const known = state?.services[origin];
  if (state && known && known.routeTiers[routeKey] === undefined) {
    const probe = await rec.fetch(url, o.init);
    if (probe.status !== 402) {
      res = probe; // free: nothing to present
    } else {
      const session = sessionInfoOf(probe);
      if (!session) {
        throw new CliError(
          EXIT.refused,
          "no_session_offered",
          `${url} sells no session credential (its 402 has no zk-exact offer with extra.session): pay it without --session`,
        );
      }
      // It sells one: SessionClient asks it again without a credential and learns its terms
      // itself (tier, and whether a presentation is bound to the request: recording only
      // the tier here would present with another route's terms).
    }
  }
  const client = await SessionClient.open({
    wallet,
    artifacts: presentationArtifacts(),
    store,
    settlement: ctx.opts.mode,
    maxPrice: o.maxAmount,
    // The per-request fallback of SessionClient has no price cap: `pay` without --session has one.
    payPerRequest: false,
    // One request per process: a presentation proved ahead would die with it.
    prepareAhead: false,
    buy: o.offer ? (offers) => offers.find((x) => x.id === o.offer) : "auto",
    onProgress: bar.update,
    fetch: rec.fetch,
  });
  const held = new Set(client.credentials().map((c) => c.receiptId));
  try {
    res ??= await client.fetch(url, o.init);
  } catch (err) {
    if (!isZkPayError(err, "no_credential")) throw err;
    const fresh = client.credentials().filter((c) => !held.has(c.receiptId) && c.origin === origin);
    if (fresh.length > 0) {
      // Bought, but not presentable yet: the block that paid it is ahead of this clock.
      const c = fresh[0]!;
      throw new CliError(
        EXIT.refused,
        "credential_not_yet_valid",
        `bought credential "${c.offerId}" (receipt ${c.receiptId}), valid from ${isoSeconds(c.issuedAt)}: this machine's clock is behind the chain's; retry then (402zk pay --session ${url})`,
        { cause: err },
      );
    }
    const svc = (await store.load())?.services[origin];
    if (!svc) {
      throw new CliError(
        EXIT.refused,
        "no_session_offered",
        `${url} sells no session credential (its 402 has no zk-exact offer with extra.session): pay it without --session`,
        { cause: err },
      );
    }
    const offers = svc.info.offers.filter((x) => x.tier >= (svc.routeTiers[routeKey] ?? 0));
    const list = offers.map((x) => `${x.id} ${tokens(x.price)} for ${x.maxPresentations} requests`).join(", ");
    if (o.offer && !offers.some((x) => x.id === o.offer)) {
      throw new CliError(
        EXIT.usage,
        "invalid_argument",
        `${origin} offers no credential "${o.offer}" for this route (offers: ${list || "none"})`,
        { cause: err },
      );
    }
    throw new CliError(
      EXIT.refused,
      "price_above_max",
      `no credential offer of ${origin} fits --max ${formatAmount(o.maxAmount, d)} ${ctx.symbol} (offers: ${list || "none"}): raise --max`,
      { cause: err },
    );
  } finally {
    bar.end();
  }
  const body = await res.text();
  const t = client.lastRequest;
  const mine = client.credentials().filter((c) => c.origin === origin);
  const bought = mine.find((c) => !held.has(c.receiptId));
  const remaining = client.remaining(origin);
  let failure: CliError | undefined;
  if (res.status === 402) {
    failure = new CliError(EXIT.refused, "presentation_refused", `the server refused the presentation (HTTP 402)`);
  } else if (res.status < 200 || res.status >= 300) {
    failure = new CliError(EXIT.server, "server_error", `the server answered HTTP ${res.status}`);
  }
  if (o.json) {
    out(
      JSON.stringify({
        ok: failure === undefined,
        exitCode: failure?.exitCode ?? EXIT.ok,
        error: failure ? { reason: failure.reason, message: failure.message } : undefined,
        status: res.status,
        session: true,
        mode: t?.mode,
        bought,
        remaining,
        credentials: mine,
        pendingPurchases: client.pendingPurchases().length,
        timingsMs: t ? { totalMs: Math.round(t.totalMs), proveMs: Math.round(t.proveMs) } : undefined,
        contentType: res.headers.get("content-type"),
        body,
      }),
    );
    if (failure) failure.reported = true;
  } else {
    out(body);
    const how: Record<string, string> = {
      bought: "bought a credential and presented it",
      prepared: "presented a session credential",
      proved: "presented a session credential",
      paid: "paid per request",
    };
    info(`status ${res.status}, ${how[t?.mode ?? ""] ?? "no payment asked"}`);
    if (bought) {
      const offer = (await store.load())?.services[origin]?.info.offers.find((x) => x.id === bought.offerId);
      info(
        `bought "${bought.offerId}"${offer ? ` for ${tokens(offer.price)}` : ""}: tier ${bought.tier}, ${bought.maxPresentations} requests until ${isoSeconds(bought.expiresAt)}, receipt ${bought.receiptId}`,
      );
    }
    info(`${remaining} presentation(s) left at ${origin}`);
    if (t) info(`time ${ms(t.totalMs)} (prove ${ms(t.proveMs)})`);
  }
  if (failure) throw failure;
}

/** The session terms in a 402's PAYMENT-REQUIRED header (`extra.session` of its zk-exact option), if any. */
function sessionInfoOf(res: Response): SessionInfo | undefined {
  const header = res.headers.get("PAYMENT-REQUIRED");
  if (!header) return undefined;
  try {
    const required = decodePaymentRequiredHeader(header);
    const raw = required.accepts.find((a) => a.scheme === ZK_SCHEME && a.extra?.session)?.extra?.session;
    const parsed = SessionInfoSchema.safeParse(raw);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One test body for every server adapter (402zk/express, 402zk/hono, 402zk/next): the same
 * paid API behind each adapter, the same requests, the same answers. A new adapter adds an
 * {@link AdapterCase} (a file in ./servers) and one line in matrix.test.ts.
 *
 * One chain, one payer wallet and one session client store serve every adapter: the
 * proofs are real (each payment and presentation is proved), but the deposits, the
 * contract deployment and the circuit warm-up are paid once per run.
 */
import type { RouteConfig, RoutesConfig, x402ResourceServer } from "@x402/core/server";
import type { PaymentPayload, PaymentRequired, PaymentRequirements } from "@x402/core/types";
import { wrapFetchWithPayment } from "@x402/fetch";
import {
  declareDiscoveryExtension,
  validateDiscoveryExtension,
  type DiscoveryExtension,
} from "@x402/extensions/bazaar";
import { expect } from "chai";
import { existsSync, readFileSync } from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import path from "node:path";
import type { Address, Hex } from "viem";

import type { PreparedPayment } from "../../sdk/client/types.js";
import { EdDsaPoseidonKey } from "../../sdk/core/eddsa.js";
import { signCredential } from "../../sdk/core/identity/credential.js";
import { declareZkAttributeExtension, ZK_ATTRIBUTE_EXTENSION } from "../../sdk/core/identity/extension.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { shutdownProver } from "../../sdk/core/prover.js";
import { ReceiptChecker } from "../../sdk/core/receipts.js";
import { MemoryReplayStore } from "../../sdk/core/replay.js";
import { attributeArtifacts, loadPresentationVerificationKey } from "../../sdk/node/artifacts.js";
import { ATTRIBUTE_REFUSED_HEADER, AttributeVerifier } from "../../sdk/server/attributes.js";
import { MAX_GATE_BODY_BYTES } from "../../sdk/server/gate.js";
import { PAYWALL_PREFIX, type ZkPaywallOptions } from "../../sdk/server/paywall.js";
import { createZkResourceServer } from "../../sdk/server/resource-server.js";
import { SessionService, type SessionRouteConfig } from "../../sdk/session/service.js";
import { MemorySessionStore } from "../../sdk/session/store.js";
import {
  SESSION_BODY_FIELD,
  SESSION_HEADER,
  SESSION_REFUSAL_HEADER,
  type SessionOffer,
  type SessionRefusal,
} from "../../sdk/session/wire.js";
import { ROOT } from "../../scripts/lib/paths.js";
import { buildBrowser } from "../../scripts/build-browser.mjs";
import { ISSUER_KEY, OFFERS, sessionClient } from "../helpers/session-env.js";
import { account, decodeHeader, startEnv, zkClient, type Env } from "../helpers/x402-env.js";

/** The issuer the age-gated app trusts, and the claims of the adult it vouches for. */
const ISSUER_SECRET = `0x${"5a".repeat(32)}` as Hex;
const ADULT = { birthDate: 19900517, country: 276, expiresAt: 20991231, flags: 0n };

/** Price of every paid route, base units. */
export const PRICE = 10_000n;

/** What the matrix API's handlers answer; every adapter serves exactly these. */
export const HANDLERS = {
  /** GET /weather (pay per request). */
  weather: () => ({ weather: "sunny" }),
  /** GET /data (tier 1 session route): `session` is what the adapter hands the handler. */
  data: (session: { requiredTier: number } | undefined) => ({ data: "ok", session: session ?? null }),
  /** POST /order (tier 1, presentations bound to the request): echoes the JSON body it got. */
  order: (body: unknown) => ({ ordered: body }),
  /** GET /premium (tier 2 session route). */
  premium: () => ({ premium: true }),
};

/** x402's bazaar discovery declaration of GET /weather and GET /data (`declareDiscoveryExtension`). */
const DISCOVERY = {
  weather: declareDiscoveryExtension({ output: { example: HANDLERS.weather() } }),
  data: declareDiscoveryExtension({ output: { example: HANDLERS.data({ requiredTier: 1 }) } }),
};

/** The bazaar extension of the 402 `res` answered, checked valid as x402 checks it (the declaration completed with the method). */
function discoveryOf(res: Response): { bazaar: DiscoveryExtension; accepts: PaymentRequirements[] } {
  expect(res.status).to.equal(402);
  const required = decodeHeader<{ accepts: PaymentRequirements[]; extensions?: { bazaar?: DiscoveryExtension } }>(
    res.headers.get("PAYMENT-REQUIRED"),
  )!;
  const bazaar = required.extensions?.bazaar;
  expect(bazaar).to.be.an("object");
  expect(validateDiscoveryExtension(bazaar!)).to.deep.equal({ valid: true });
  expect(bazaar!.info.input).to.include({ type: "http", method: "GET" });
  return { bazaar: bazaar!, accepts: required.accepts };
}

/** x402 routes where a route may also accept credentials (what every session middleware takes). */
export type MatrixSessionRoutes = Record<string, RouteConfig & { session?: SessionRouteConfig }>;

/** The pay-per-request app: GET /weather costs {@link PRICE}. */
export interface PaymentsApp {
  routes: RoutesConfig;
  resourceServer: x402ResourceServer;
  /**
   * The adapter's `paywall` option: browsers get the paywall page, and the app serves its
   * files under `/.well-known/402zk/` (those paths must reach the adapter).
   */
  paywall?: ZkPaywallOptions;
}

/** The session app: GET /data, POST /order, GET /premium sell and accept credentials. */
export interface SessionsApp {
  routes: MatrixSessionRoutes;
  resourceServer: x402ResourceServer;
  sessions: SessionService;
  network: string;
  asset: Address;
}

/** A server listening on 127.0.0.1. */
export interface Served {
  url: string;
  close(): Promise<void>;
}

/** One server adapter: how it serves the matrix's two apps with its framework's real server. */
export interface AdapterCase {
  name: string;
  /** GET /weather behind the adapter's pay-per-request middleware, answering {@link HANDLERS}.weather. */
  payments(app: PaymentsApp): Promise<Served>;
  /** The session routes behind the adapter's session middleware, answering {@link HANDLERS}. */
  sessions(app: SessionsApp): Promise<Served>;
}

/** Failures a client may have counted before 429: small, so that a flood is a few requests. */
const MAX_FAILURES = 3;
/**
 * Loopback is the trusted proxy, and a proxy writes X-Forwarded-For (behindProxy: Next shows
 * no socket): each test is its own client through `X-Forwarded-For`.
 */
const LIMITS = { maxFailuresPerClient: MAX_FAILURES, trustedProxies: ["127.0.0.1", "::1"], behindProxy: true };

/** A browser's navigation, as x402 tells it from a program: Accept names text/html and the User-Agent says Mozilla. */
const BROWSER = {
  Accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
  "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36",
};

/** The paywall page's embedded configuration (`<script id="zk402-config">`, what the page script reads). */
function paywallConfigOf(html: string): { paymentRequired: unknown; deploymentBlock: number; appName?: string } {
  const m = /<script type="application\/json" id="zk402-config">([^<]*)<\/script>/.exec(html);
  expect(m, "the page embeds its zk402-config").to.not.equal(null);
  return JSON.parse(m![1]!) as { paymentRequired: unknown; deploymentBlock: number; appName?: string };
}

/** A payment option without its per-402 challenge (`extra.challenge`). */
function withoutChallenge(option: PaymentRequirements): PaymentRequirements {
  const { challenge: _challenge, ...extra } = option.extra ?? {};
  return { ...option, extra };
}

/**
 * GET `target` exactly as written: node:http sends the request target unchanged, where
 * fetch (the WHATWG URL parser) would resolve `..` and `%2e%2e` segments before sending.
 */
function rawGet(base: string, target: string, headers: Record<string, string> = {}) {
  const { hostname, port } = new URL(base);
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path: target, method: "GET", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Runs the matrix over `cases`, one `describe` per adapter, on one shared chain. */
export function adapterMatrix(cases: AdapterCase[]): void {
  describe("adapter matrix: the same paid API behind every server adapter", function () {
    let env: Env;
    let payee: Address;
    /** The shielded payee of the zk-shielded app (its keys: the server opens its notes). */
    const shieldedPayee = WalletKeys.fromSeed(WalletKeys.randomSeed());
    let payer: Awaited<ReturnType<Env["payer"]>>;
    /** A distinct `X-Forwarded-For` client per test, so failure counts never mix. */
    let clients = 0;
    const nextClient = () => `10.40.2.${++clients}`;

    before(async function () {
      env = await startEnv();
      payee = account(4).address;
      // Enough for every adapter: four paid requests (one age-gated) and a credential each.
      payer = await env.payer(5, { deposit: BigInt(cases.length) * (4n * PRICE + OFFERS[0]!.price) + 100_000n });
      // The paywall's bundles: built by `npm run build:sdk` / `prepare`; built here when this
      // checkout has none (~1 s). Not rebuilt otherwise: a rebuild empties dist/paywall/
      // first, under any other run serving it, and the checks compare with what is on disk.
      if (!existsSync(path.join(ROOT, "dist/paywall/paywall.js"))) await buildBrowser({ quiet: true });
    });

    after(async function () {
      await env?.chain.close();
      await shutdownProver();
    });

    /** A resource server (its own admission counters) and the session service over it; `shielded`: paid at a shielded address. */
    async function resources(shielded = false, attributes?: AttributeVerifier) {
      const replay = new MemoryReplayStore();
      const zk = createZkResourceServer({
        pool: { ...env.pool, decimals: 6 },
        publicClient: env.publicClient,
        walletClient: env.walletClientFor(1),
        vkey: env.vkey,
        vkeySha256: env.vkeySha256,
        challengeSecret: "adapter-matrix-secret-0123456789",
        replay,
        verifyIn: "main",
        limits: LIMITS,
        payee: shielded ? { keys: shieldedPayee } : undefined,
        attributes,
      });
      const sessions = await SessionService.create({
        issuerKey: ISSUER_KEY,
        offers: OFFERS,
        vkey: loadPresentationVerificationKey(),
        replay,
        pool: { facilitator: env.pool.facilitator, chainId: env.pool.chainId },
        payTo: payee,
        publicClient: env.publicClient,
        challenges: zk.challenges,
      });
      const accepts = {
        scheme: shielded ? "zk-shielded" : "zk-exact",
        network: zk.network,
        payTo: shielded ? shieldedPayee.address() : payee,
        price: { amount: PRICE.toString(), asset: env.pool.token },
      };
      return { zk, sessions, accepts };
    }

    for (const adapter of cases) {
      describe(adapter.name, function () {
        let paid: Served;
        let session: Served;
        let paidClosed = false;

        before(async function () {
          const r = await resources();
          paid = await adapter.payments({
            routes: { "GET /weather": { accepts: r.accepts, extensions: DISCOVERY.weather } },
            resourceServer: r.zk.resourceServer,
            paywall: { deploymentBlock: env.pool.deploymentBlock, appName: "Matrix weather" },
          });

          // A second resource server: the session app counts its own failures.
          const s = await resources();
          session = await adapter.sessions({
            routes: {
              "GET /data": { accepts: s.accepts, session: { requiredTier: 1 }, extensions: DISCOVERY.data },
              "GET /premium": { accepts: s.accepts, session: { requiredTier: 2 } },
              "POST /order": {
                accepts: { ...s.accepts, extra: { paymentFlow: "upfront" } },
                session: { requiredTier: 1, bindRequest: true },
              },
            },
            resourceServer: s.zk.resourceServer,
            sessions: s.sessions,
            network: s.zk.network,
            asset: env.pool.token,
          });
        });

        after(async function () {
          if (!paidClosed) await paid?.close();
          await session?.close();
        });

        for (const mode of ["server", "client"] as const) {
          it(`serves a paid request, ${mode}-settled, and the payee is paid`, async function () {
            const before = await env.system.token.balanceOf(payee);
            const { fetch: pay, sent } = env.payingFetch(payer.wallet, mode);
            const res = await pay(`${paid.url}/weather`);
            expect(res.status, await res.clone().text()).to.equal(200);
            expect(await res.json()).to.deep.equal(HANDLERS.weather());
            const settle = decodeHeader<{ success: boolean; transaction: Hex }>(res.headers.get("PAYMENT-RESPONSE"));
            expect(settle).to.include({ success: true });
            expect(settle!.transaction).to.match(/^0x[0-9a-f]{64}$/);
            const signature = decodeHeader<{ payload: { settlement: string } }>(sent.at(-1)!.paymentSignature);
            expect(signature?.payload.settlement).to.equal(mode);
            expect(await env.system.token.balanceOf(payee)).to.equal(before + PRICE);
          });
        }

        it("declares its routes through x402's bazaar discovery: a valid extension in the 402; a session route's options name the credentials sold", async function () {
          const weather = discoveryOf(
            await fetch(`${paid.url}/weather`, { headers: { "X-Forwarded-For": nextClient() } }),
          );
          expect(weather.accepts.map((a) => a.scheme)).to.deep.equal(["zk-exact"]);
          const data = discoveryOf(
            await fetch(`${session.url}/data`, { headers: { "X-Forwarded-For": nextClient() } }),
          );
          // Sessions: in the options' extra (the bazaar schema takes no extra input field), as
          // 402zk's session clients read them; a cataloguing facilitator lists them with the option.
          const sold = (data.accepts[0]!.extra as { session?: { requiredTier: number; offers: SessionOffer[] } })
            .session;
          expect(sold?.requiredTier).to.equal(1);
          expect(sold?.offers.map((o) => o.id)).to.deep.equal(OFFERS.map((o) => o.id));
          // A route without the declaration has none.
          const premium = await fetch(`${session.url}/premium`, { headers: { "X-Forwarded-For": nextClient() } });
          expect(premium.status).to.equal(402);
          expect(decodeHeader<{ extensions?: unknown }>(premium.headers.get("PAYMENT-REQUIRED"))!.extensions).to.equal(
            undefined,
          );
        });

        it("serves the paywall: a browser gets the page (its config is the route's PAYMENT-REQUIRED), programs JSON; the page's files and nothing else under /.well-known/402zk/", async function () {
          const page = await fetch(`${paid.url}/weather`, { headers: { ...BROWSER, "X-Forwarded-For": nextClient() } });
          expect(page.status).to.equal(402);
          expect(page.headers.get("content-type")).to.match(/^text\/html(;\s*charset=utf-8)?$/i);
          const header = decodeHeader<{ accepts: PaymentRequirements[] }>(page.headers.get("PAYMENT-REQUIRED"));
          expect(header?.accepts[0]).to.include({ scheme: "zk-exact", payTo: payee });
          const html = await page.text();
          const config = paywallConfigOf(html);
          // The page pays exactly what the 402's header asks (one request: one challenge).
          expect(config.paymentRequired).to.deep.equal(header);
          expect(config).to.include({ deploymentBlock: env.pool.deploymentBlock, appName: "Matrix weather" });
          expect(html).to.include(`<script type="module" src="${PAYWALL_PREFIX}/paywall/paywall.js">`);

          // Programs still get the JSON 402: x402 serves HTML only when Accept names
          // text/html AND the User-Agent says Mozilla; each half alone is a program.
          for (const headers of [
            { Accept: "application/json", "User-Agent": BROWSER["User-Agent"] },
            { Accept: "text/html", "User-Agent": "curl/8.5.0" },
          ]) {
            const api = await fetch(`${paid.url}/weather`, {
              headers: { ...headers, "X-Forwarded-For": nextClient() },
            });
            expect(api.status).to.equal(402);
            expect(api.headers.get("content-type")).to.match(/^application\/json/);
            expect(await api.json()).to.deep.equal({});
            // The same terms; only the challenge is fresh for each 402.
            const accepts = decodeHeader<{ accepts: PaymentRequirements[] }>(
              api.headers.get("PAYMENT-REQUIRED"),
            )!.accepts;
            expect(accepts.map(withoutChallenge)).to.deep.equal(header!.accepts.map(withoutChallenge));
          }

          // The page's script, byte for byte as built, and a registry artifact.
          const script = await rawGet(paid.url, `${PAYWALL_PREFIX}/paywall/paywall.js`);
          expect(script.status).to.equal(200);
          expect(script.headers["content-type"]).to.match(/^text\/javascript/);
          expect(script.body.equals(readFileSync(path.join(ROOT, "dist/paywall/paywall.js")))).to.equal(true);
          const vkey = await rawGet(paid.url, `${PAYWALL_PREFIX}/artifacts/payment.vkey.json`);
          expect(vkey.status).to.equal(200);
          expect(vkey.headers["content-type"]).to.match(/^application\/json/);
          expect(vkey.body.equals(readFileSync(path.join(ROOT, "circuits/artifacts/payment.vkey.json")))).to.equal(
            true,
          );

          // Nothing else: a name the registry does not list, a file that lies in dist/paywall/
          // but is not a bundle, and paths that climb out (as sent, `..` and encoded), each the
          // app's own 404, never the bytes of a file on disk.
          const packageJson = readFileSync(path.join(ROOT, "package.json"));
          for (const target of [
            `${PAYWALL_PREFIX}/artifacts/payment.r1cs`,
            `${PAYWALL_PREFIX}/paywall/sizes.json`,
            `${PAYWALL_PREFIX}/paywall/../../package.json`,
            `${PAYWALL_PREFIX}/artifacts/../../../package.json`,
            `${PAYWALL_PREFIX}/paywall/%2e%2e/%2e%2e/%2e%2e/package.json`,
            `${PAYWALL_PREFIX}/artifacts/..%2f..%2f..%2fpackage.json`,
            `${PAYWALL_PREFIX}/artifacts/%2E%2E%2F%2E%2E%2F%2E%2E%2Fpackage.json`,
          ]) {
            const res = await rawGet(paid.url, target, { "X-Forwarded-For": nextClient() });
            expect(res.status, target).to.equal(404);
            expect(res.body.includes(packageJson.subarray(0, 64)), target).to.equal(false);
            expect(res.body.includes(Buffer.from('"name": "402zk"')), target).to.equal(false);
          }
        });

        it("answers a malformed PAYMENT-SIGNATURE 400 malformed_header, and unpaid stays 402", async function () {
          const client = nextClient();
          const res = await fetch(`${paid.url}/weather`, {
            headers: { "PAYMENT-SIGNATURE": "%%%not-base64%%%", "X-Forwarded-For": client },
          });
          expect(res.status).to.equal(400);
          expect(await res.json()).to.include({ error: "malformed_header" });
          const unpaid = await fetch(`${paid.url}/weather`, { headers: { "X-Forwarded-For": nextClient() } });
          expect(unpaid.status).to.equal(402);
          expect(unpaid.headers.get("PAYMENT-REQUIRED")).to.be.a("string");
        });

        it("answers an oversized PAYMENT-SIGNATURE 431 header_too_large", async function () {
          // Above the 8 KiB limit of 402zk, below Node's own 16 KiB header limit.
          const res = await fetch(`${paid.url}/weather`, {
            headers: { "PAYMENT-SIGNATURE": "A".repeat(12_000), "X-Forwarded-For": nextClient() },
          });
          expect(res.status).to.equal(431);
          expect(await res.json()).to.include({ error: "header_too_large" });
        });

        it("answers a flood of refused payments 429 too_many_failures with Retry-After", async function () {
          const client = nextClient();
          const statuses: number[] = [];
          let last: Response | undefined;
          for (let i = 0; i < MAX_FAILURES + 2; i++) {
            last = await fetch(`${paid.url}/weather`, {
              headers: { "PAYMENT-SIGNATURE": "junk", "X-Forwarded-For": client },
            });
            statuses.push(last.status);
            if (i < MAX_FAILURES + 1) await last.text();
          }
          expect(statuses).to.deep.equal([...Array(MAX_FAILURES).fill(400), 429, 429]);
          expect(await last!.json()).to.include({ error: "too_many_failures" });
          expect(Number(last!.headers.get("Retry-After"))).to.be.greaterThan(0);
          // Another client is not affected.
          const other = await fetch(`${paid.url}/weather`, { headers: { "X-Forwarded-For": nextClient() } });
          expect(other.status).to.equal(402);
        });

        it("sells a session credential and accepts it in the header, then in the zk_session body field", async function () {
          const store = new MemorySessionStore();
          const headers: (string | null)[] = [];
          const recording: typeof fetch = async (input, init) => {
            headers.push(new Headers(init?.headers).get(SESSION_HEADER));
            return fetch(input, init);
          };
          const common = {
            store,
            buy: (offers: SessionOffer[]) => offers.find((o) => o.id === "basic"),
            payPerRequest: false,
            prepareAhead: false,
            fetch: recording,
          };
          const before = await env.system.token.balanceOf(payee);
          const viaHeader = await sessionClient(payer.wallet, common);
          const first = await viaHeader.fetch(`${session.url}/data`);
          expect(first.status, await first.clone().text()).to.equal(200);
          expect(viaHeader.lastRequest?.mode).to.equal("bought");
          expect(await env.system.token.balanceOf(payee)).to.equal(before + OFFERS[0]!.price);
          const second = await viaHeader.fetch(`${session.url}/data`);
          expect(second.status).to.equal(200);
          expect(viaHeader.lastRequest?.mode).to.equal("proved");
          expect(await second.json()).to.deep.equal(HANDLERS.data({ requiredTier: 1 }));
          const presented = headers.at(-1);
          expect(presented).to.be.a("string");

          // The body transport: the handler gets the body without the presentation.
          const viaBody = await sessionClient(payer.wallet, { ...common, transport: "body" });
          const order = { item: "tea", qty: 2 };
          const third = await viaBody.fetch(`${session.url}/order`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(order),
          });
          expect(third.status, await third.clone().text()).to.equal(200);
          expect(viaBody.lastRequest?.mode).to.equal("proved");
          expect(headers.at(-1)).to.equal(null);
          expect(await third.json()).to.deep.equal(HANDLERS.order(order));
          // Paid once for all three.
          expect(await env.system.token.balanceOf(payee)).to.equal(before + OFFERS[0]!.price);

          // The header presentation again: refused, with its reason, and x402's offers.
          const replayed = await fetch(`${session.url}/data`, { headers: { [SESSION_HEADER]: presented! } });
          expect(replayed.status).to.equal(402);
          const refusal = decodeHeader<SessionRefusal>(replayed.headers.get(SESSION_REFUSAL_HEADER));
          expect(refusal).to.include({ error: "origin_token_replayed", buy: false });
          expect(replayed.headers.get("PAYMENT-REQUIRED")).to.be.a("string");
        });

        it("answers a presentation that is not one 400, in the header and in the body", async function () {
          const header = await fetch(`${session.url}/data`, {
            headers: { [SESSION_HEADER]: "!!!", "X-Forwarded-For": nextClient() },
          });
          expect(header.status).to.equal(400);
          expect(await header.json()).to.include({ error: "malformed_header" });
          const body = await fetch(`${session.url}/order`, {
            method: "POST",
            headers: { "content-type": "application/json", "X-Forwarded-For": nextClient() },
            body: JSON.stringify({ item: "tea", [SESSION_BODY_FIELD]: { proof: 1 } }),
          });
          expect(body.status).to.equal(400);
          expect(await body.json()).to.include({ error: "invalid_presentation" });
        });

        it("answers a zk_session body over MAX_GATE_BODY_BYTES 413 body_too_large, declared or streamed", async function () {
          // A presentation-shaped field and padding one byte past the limit: refused while
          // reading, before any parsing or proof work, whether the length is declared
          // (Content-Length) or only found by counting (a chunked stream).
          const oversized = () =>
            JSON.stringify({ [SESSION_BODY_FIELD]: { proof: "0x" }, pad: "x".repeat(MAX_GATE_BODY_BYTES) });
          const declared = await fetch(`${session.url}/order`, {
            method: "POST",
            headers: { "content-type": "application/json", "X-Forwarded-For": nextClient() },
            body: oversized(),
          });
          expect(declared.status).to.equal(413);
          expect(await declared.json()).to.include({ error: "body_too_large" });

          const bytes = new TextEncoder().encode(oversized());
          const chunk = 64 * 1024;
          const streamed = await fetch(`${session.url}/order`, {
            method: "POST",
            headers: { "content-type": "application/json", "X-Forwarded-For": nextClient() },
            body: new ReadableStream<Uint8Array>({
              start(controller) {
                for (let i = 0; i < bytes.length; i += chunk) controller.enqueue(bytes.subarray(i, i + chunk));
                controller.close();
              },
            }),
            duplex: "half",
          } as RequestInit & { duplex: "half" });
          expect(streamed.status).to.equal(413);
          expect(await streamed.json()).to.include({ error: "body_too_large" });
        });

        it("serves the session terms at /.well-known/402zk/sessions", async function () {
          const res = await fetch(`${session.url}/.well-known/402zk/sessions`);
          expect(res.status).to.equal(200);
          const info = (await res.json()) as { offers: { id: string }[] };
          expect(info.offers.map((o) => o.id)).to.deep.equal(OFFERS.map((o) => o.id));
        });

        it("serves a zk-shielded paid request: a note for the shielded payee, nothing public names it", async function () {
          // The same route paid in zk-shielded, at the payee's shielded address. Last: Next's
          // shared server mounts one app per path, so the zk-exact app goes first.
          await paid.close();
          paidClosed = true;
          const z = await resources(true);
          const shieldedPaid = await adapter.payments({
            routes: { "GET /weather": { accepts: z.accepts, extensions: DISCOVERY.weather } },
            resourceServer: z.zk.resourceServer,
          });
          let res: Response;
          let sent: { paymentSignature: string | null }[];
          try {
            // Discoverable in zk-shielded too: the option names the shielded address.
            const unpaid = discoveryOf(
              await fetch(`${shieldedPaid.url}/weather`, { headers: { "X-Forwarded-For": nextClient() } }),
            );
            expect(unpaid.accepts[0]).to.include({ scheme: "zk-shielded", payTo: shieldedPayee.address() });
            const paying = env.payingFetch(payer.wallet, "server");
            sent = paying.sent;
            res = await paying.fetch(`${shieldedPaid.url}/weather`);
            expect(res.status, await res.clone().text()).to.equal(200);
            expect(await res.json()).to.deep.equal(HANDLERS.weather());
          } finally {
            await shieldedPaid.close();
          }
          const settle = decodeHeader<{ success: boolean; extra: { receiptId: Hex } }>(
            res.headers.get("PAYMENT-RESPONSE"),
          );
          expect(settle).to.include({ success: true });
          const signature = decodeHeader<{
            accepted: { scheme: string };
            payload: {
              terms: { payTo: string; amount: string; conditionHash: Hex };
              proof: { payeeCommitment: string };
              payeeMemo: Hex;
            };
          }>(sent.at(-1)!.paymentSignature)!;
          expect(signature.accepted.scheme).to.equal("zk-shielded");
          expect(signature.payload.terms).to.include({ payTo: "0x" + "0".repeat(40), amount: "0" });
          const receipt = await new ReceiptChecker({
            publicClient: env.publicClient,
            facilitator: env.pool.facilitator,
          }).check({
            id: settle!.extra.receiptId,
            payeeCommitment: BigInt(signature.payload.proof.payeeCommitment),
            conditionHash: signature.payload.terms.conditionHash,
            payeeMemo: signature.payload.payeeMemo,
          });
          expect(receipt.state).to.equal("paid");
        });

        it("an age-gated route (zk-attribute): a payment with the attribute proof is served, the same proof on another payment is 403 with its reason, none is 402", async function () {
          // The adapter's last test: Next serves one handler per path, and this app takes /weather.
          const attributes = await AttributeVerifier.create({
            service: `http://matrix-${adapter.name.replace(/\W/g, "-")}.example`,
            issuers: [{ key: EdDsaPoseidonKey.fromSecret(ISSUER_SECRET).publicKey }],
          });
          const g = await resources(false, attributes);
          const gated = await adapter.payments({
            routes: { "GET /weather": { accepts: g.accepts, extensions: declareZkAttributeExtension({ minAge: 18 }) } },
            resourceServer: g.zk.resourceServer,
          });
          try {
            await payer.wallet.sync();
            const adult = signCredential(ISSUER_SECRET, payer.wallet.attributeHolderKey().publicKey, ADULT, 1);
            const identity = { credentials: [adult], artifacts: attributeArtifacts() };
            const before = await env.system.token.balanceOf(payee);
            const sent: string[] = [];
            const rec: typeof fetch = async (input, init) => {
              const req = new Request(input as RequestInfo, init);
              const h = req.headers.get("PAYMENT-SIGNATURE");
              if (h) sent.push(h);
              return fetch(req);
            };
            const xff = { "X-Forwarded-For": nextClient() };
            const res = await wrapFetchWithPayment(rec, zkClient({ wallet: payer.wallet, identity }))(
              `${gated.url}/weather`,
              {
                headers: xff,
              },
            );
            expect(res.status, await res.clone().text()).to.equal(200);
            expect(await res.json()).to.deep.equal(HANDLERS.weather());
            expect(await env.system.token.balanceOf(payee)).to.equal(before + PRICE);
            const proof = (decodeHeader<PaymentPayload>(sent[0]!)!.extensions as Record<string, unknown>)[
              ZK_ATTRIBUTE_EXTENSION
            ];

            // Another payment (no proof of its own) carrying the first one's proof.
            await payer.wallet.sync();
            const required = decodeHeader<PaymentRequired>(
              (await fetch(`${gated.url}/weather`, { headers: xff })).headers.get("PAYMENT-REQUIRED"),
            )!;
            let prepared: PreparedPayment | undefined;
            const other = await zkClient({
              wallet: payer.wallet,
              onPrepared: (p) => (prepared = p),
            }).createPaymentPayload({
              ...required,
              extensions: undefined,
            });
            try {
              const send = (extensions: Record<string, unknown> | undefined) =>
                fetch(`${gated.url}/weather`, {
                  headers: { ...xff, "PAYMENT-SIGNATURE": btoa(JSON.stringify({ ...other, extensions })) },
                });
              const copied = await send({ [ZK_ATTRIBUTE_EXTENSION]: proof });
              expect(copied.status).to.equal(403);
              expect(await copied.json()).to.deep.equal({ error: "attribute_proof_invalid" });
              const refused = JSON.parse(atob(copied.headers.get(ATTRIBUTE_REFUSED_HEADER)!)) as { message: string };
              expect(refused.message).to.match(/another payment/);
              const none = await send(undefined);
              expect(none.status).to.equal(402);
              expect(decodeHeader<PaymentRequired>(none.headers.get("PAYMENT-REQUIRED"))!.error).to.equal(
                "attribute_proof_required",
              );
            } finally {
              await payer.wallet.releasePayment(prepared!);
            }
            expect(await env.system.token.balanceOf(payee)).to.equal(before + PRICE);
          } finally {
            await gated.close();
            attributes.close();
          }
        });
      });
    }
  });
}

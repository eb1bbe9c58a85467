// First: Next's server globals (AsyncLocalStorage), which next/server needs when loaded
// outside a server Next started (this process loads 402zk/next before starting one).
import "next/dist/server/node-environment.js";

import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

import nextModule from "next";
import { NextResponse, type NextRequest } from "next/server.js";

import { withZkPayment, zkSessionOf, zkSessionRoutes } from "../../../sdk/next/index.js";
import { PAYWALL_PREFIX } from "../../../sdk/server/paywall.js";
import { HANDLERS, type AdapterCase, type Served } from "../matrix.js";
import { listening } from "./listen.js";

// Next's CommonJS entry exports the factory itself (its types describe an ES default export).
const next = nextModule as unknown as typeof nextModule.default;

const APP = path.join(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/next-app");

type Handler = (request: NextRequest, context: unknown) => Promise<Response>;
declare global {
  /** What the fixture app's catch-all route calls. */
  var __zk402NextFixture: Handler;
}

/**
 * The handlers mounted on the shared server, by path: an exact path, a prefix ending in
 * `/*` (what a catch-all route such as `app/.well-known/402zk/[...path]/route.ts` gets),
 * or "*" (every other path).
 */
const mounted = new Map<string, Handler>();
function mountedFor(pathname: string): Handler | undefined {
  const exact = mounted.get(pathname);
  if (exact) return exact;
  let best: [string, Handler] | undefined;
  for (const [p, h] of mounted) {
    if (p.endsWith("/*") && pathname.startsWith(p.slice(0, -1)) && (!best || p.length > best[0].length)) best = [p, h];
  }
  return best?.[1] ?? mounted.get("*");
}
globalThis.__zk402NextFixture = (request, context) => {
  const handler = mountedFor(request.nextUrl.pathname);
  return handler
    ? handler(request, context)
    : Promise.resolve(NextResponse.json({ error: "not_found" }, { status: 404 }));
};

/**
 * One Next development server (Turbopack, compiled on the first request) on the fixture
 * app, in this process: Next caches a project's config per process, locks its build folder
 * and registers process-wide workers that a second server cannot register again ("Worker
 * creator already registered"), so every suite that needs Next (the matrix's two apps, the
 * README's route in test/package/examples.test.ts) mounts its handlers on paths of this one
 * server, which stays up until the whole run ends.
 */
let shared: Promise<{ served: Served; close(): Promise<void> }> | undefined;
after(async function () {
  const running = shared;
  shared = undefined;
  if (running) await (await running).close();
});

async function startNext() {
  process.env.NEXT_TELEMETRY_DISABLED = "1";
  const server = createServer();
  const served = await listening(server);
  const app = next({ dev: true, dir: APP, hostname: "127.0.0.1", port: Number(new URL(served.url).port), quiet: true });
  await app.prepare();
  const handle = app.getRequestHandler();
  server.on("request", (req, res) => void handle(req, res));
  return { served, close: async () => (await served.close(), await app.close()) };
}

/**
 * Mounts `handler` on `paths` of the shared Next server; closing unmounts it (the server
 * stops when the run ends). test/package/examples.test.ts mounts the README's Next route
 * (examples/next) here too.
 */
export async function serveNext(paths: string[], handler: Handler): Promise<Served> {
  for (const p of paths) mounted.set(p, handler);
  const { served } = await (shared ??= startNext());
  return {
    url: served.url,
    close: async () => {
      for (const p of paths) if (mounted.get(p) === handler) mounted.delete(p);
    },
  };
}

/** 402zk/next route handlers, run by Next's own server. */
export const nextCase: AdapterCase = {
  name: "402zk/next",
  async payments({ routes, resourceServer, paywall }) {
    // With the paywall, the paths of its files reach the same wrapped handler, as a Next
    // app routes them (a catch-all route exporting it); the handler answers only /weather.
    const paths = paywall ? ["/weather", `${PAYWALL_PREFIX}/paywall/*`, `${PAYWALL_PREFIX}/artifacts/*`] : ["/weather"];
    return serveNext(
      paths,
      withZkPayment(
        async (request: NextRequest) =>
          request.nextUrl.pathname === "/weather"
            ? NextResponse.json(HANDLERS.weather())
            : NextResponse.json({ error: "not_found" }, { status: 404 }),
        routes,
        resourceServer,
        { paywall },
      ),
    );
  },
  async sessions({ routes, resourceServer, sessions, network, asset }) {
    const zk = zkSessionRoutes(routes, resourceServer, sessions, { network, asset });
    return serveNext(
      ["*"],
      zk.wrap(async (request: NextRequest) => {
        const p = request.nextUrl.pathname;
        if (p === "/data") return NextResponse.json(HANDLERS.data(zkSessionOf(request)));
        if (p === "/premium") return NextResponse.json(HANDLERS.premium());
        if (p === "/order") return NextResponse.json(HANDLERS.order(await request.json()));
        return NextResponse.json({ error: "not_found" }, { status: 404 });
      }),
    );
  },
};

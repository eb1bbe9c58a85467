// A paid API that settles through a 402zk facilitator service (`402zk facilitator`) instead
// of holding a relayer key itself (README "Facilitator and relayer service";
// test/package/examples.test.ts runs it against a real service). Config from the environment:
// FACILITATOR_URL (default http://127.0.0.1:4022), PAY_TO, CHALLENGE_SECRET (>= 16 bytes,
// this API's own: never sent to the facilitator), PORT (default 4021), ZK402_NETWORK
// (default localhost), ZK402_DEPLOYMENTS_DIR.
import { HTTPFacilitatorClient } from "@x402/core/server";
import express from "express";

import { parseUserAddress } from "402zk/core";
import { zkPaymentMiddleware } from "402zk/express";
import { loadDeployment } from "402zk/node";
import { createZkRemoteResourceServer } from "402zk/server";

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`set ${name}`);
  return v;
};
const d = loadDeployment(process.env.ZK402_NETWORK ?? "localhost", process.env.ZK402_DEPLOYMENTS_DIR);
const facilitatorClient = new HTTPFacilitatorClient({ url: process.env.FACILITATOR_URL ?? "http://127.0.0.1:4022" });
const { resourceServer, network } = createZkRemoteResourceServer({
  facilitatorClient,
  pool: { chainId: d.chainId, facilitator: d.facilitator, token: d.token, decimals: d.token_info.decimals },
  challengeSecret: env("CHALLENGE_SECRET"),
});
const payTo = parseUserAddress(env("PAY_TO"), "PAY_TO");

const app = express();
// zkPaymentMiddleware = @x402/express's paymentMiddleware behind 402zk's header guard
// (malformed PAYMENT-SIGNATURE headers get a 400 before any work).
app.use(
  zkPaymentMiddleware(
    { "GET /weather": { accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" } } },
    resourceServer,
  ),
);
app.get("/weather", (_req, res) => res.json({ weather: "sunny" }));
const port = Number(process.env.PORT ?? 4021);
app.listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}`));

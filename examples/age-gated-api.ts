// Verify & Pay: GET /beer for adults outside two countries (README "Verify & Pay";
// test/package/examples.test.ts runs it). The resource server of weather-server.ts (same
// environment), plus ISSUER_KEY (the identity provider's public key, `402zk issuer init`
// prints it), REVOCATION_URL (its published revocation list; optional), PUBLIC_URL (this
// API's public origin, the pseudonyms' scope; default http://127.0.0.1:PORT), PORT (default 4023).
import express from "express";

import { zkPaymentMiddleware } from "402zk/express";
import { AttributeVerifier, declareZkAttributeExtension, registerZkAttributes } from "402zk/server";

import { network, payTo, resourceServer } from "./weather-server.js";

const issuerKey = process.env.ISSUER_KEY;
if (!issuerKey) throw new Error("set ISSUER_KEY");
const port = Number(process.env.PORT ?? 4023);
const revocation = process.env.REVOCATION_URL;

// Who the API trusts. The payer proves its credential comes from one of these issuers
// without saying which, and checks that the 402 scopes its pseudonym to this origin.
const attributes = await AttributeVerifier.create({
  service: process.env.PUBLIC_URL ?? `http://127.0.0.1:${port}`,
  issuers: [{ key: issuerKey, ...(revocation ? { revocation } : {}) }],
});
registerZkAttributes(resourceServer, attributes);

const app = express();
app.use(
  zkPaymentMiddleware(
    {
      "GET /beer": {
        accepts: { scheme: "zk-exact", network, payTo, price: "$0.01" },
        // 18 or older, and not from North Korea (408) or Iran (364): proved, never shown.
        extensions: declareZkAttributeExtension({ minAge: 18, countries: { mode: "block", codes: [408, 364] } }),
      },
    },
    resourceServer,
  ),
);
app.get("/beer", (_req, res) => res.json({ beer: "cold" }));
app.listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}`));

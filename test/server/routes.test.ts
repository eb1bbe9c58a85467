import { expect } from "chai";

import { isZkPayError } from "../../sdk/core/errors.js";
import { WalletKeys } from "../../sdk/core/keys.js";
import { withRouteBinding } from "../../sdk/server/gate.js";

// Route configuration is checked when the routes are built, so an operator's mistake is a
// clear startup error instead of a failure at the first paying request.

const network = "eip155:31337" as const;
const SHIELDED = WalletKeys.fromSeed(`0x${"a1".repeat(32)}`).address();

describe("Routes: a zk-shielded route names a shielded address", function () {
  it("binds zk-exact and zk-shielded routes to their keys", function () {
    const routes = withRouteBinding({
      "GET /a": { accepts: { scheme: "zk-exact", network, payTo: `0x${"11".repeat(20)}`, price: "$0.01" } },
      "GET /b": { accepts: { scheme: "zk-shielded", network, payTo: SHIELDED, price: "$0.01" } },
    });
    const b = routes["GET /b"]!.accepts;
    expect((Array.isArray(b) ? b[0] : b)!.extra).to.deep.equal({ route: "GET /b" });
  });

  for (const [label, payTo] of [
    ["a 0x address", `0x${"11".repeat(20)}`],
    ["a shielded address with one character changed", SHIELDED.slice(0, -1) + (SHIELDED.endsWith("q") ? "p" : "q")],
    ["an empty string", ""],
  ] as const) {
    it(`refuses ${label} as a zk-shielded payTo when the routes are built (invalid_shielded_address)`, function () {
      let err: unknown;
      try {
        withRouteBinding({ "GET /b": { accepts: { scheme: "zk-shielded", network, payTo, price: "$0.01" } } });
      } catch (e) {
        err = e;
      }
      expect(isZkPayError(err) && err.reason).to.equal("invalid_shielded_address");
      expect((err as Error).message).to.include("GET /b");
    });
  }
});

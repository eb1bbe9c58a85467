import { createAdaptorServer } from "@hono/node-server";
import type { Server } from "node:http";
import { Hono } from "hono";

import { zkPaymentMiddleware, zkSessionMiddleware, type ZkVariables } from "../../../sdk/hono/index.js";
import { HANDLERS, type AdapterCase } from "../matrix.js";
import { listening } from "./listen.js";

/** 402zk/hono served by @hono/node-server. */
export const honoCase: AdapterCase = {
  name: "402zk/hono",
  async payments({ routes, resourceServer, paywall }) {
    const app = new Hono();
    app.use(zkPaymentMiddleware(routes, resourceServer, { paywall }));
    app.get("/weather", (c) => c.json(HANDLERS.weather()));
    return listening(createAdaptorServer({ fetch: app.fetch }) as Server);
  },
  async sessions({ routes, resourceServer, sessions, network, asset }) {
    const app = new Hono<{ Variables: ZkVariables }>();
    app.use(zkSessionMiddleware(routes, resourceServer, sessions, { network, asset }));
    app.get("/data", (c) => c.json(HANDLERS.data(c.get("zkSession"))));
    app.get("/premium", (c) => c.json(HANDLERS.premium()));
    app.post("/order", async (c) => c.json(HANDLERS.order(await c.req.json())));
    return listening(createAdaptorServer({ fetch: app.fetch }) as Server);
  },
};

import { createServer } from "node:http";

import express from "express";

import { zkPaymentMiddleware, zkSessionMiddleware, type SessionLocals } from "../../../sdk/express/index.js";
import { HANDLERS, type AdapterCase } from "../matrix.js";
import { listening } from "./listen.js";

/** 402zk/express on Express's own server. */
export const expressCase: AdapterCase = {
  name: "402zk/express",
  async payments({ routes, resourceServer, paywall }) {
    const app = express();
    app.use(zkPaymentMiddleware(routes, resourceServer, { paywall }));
    app.get("/weather", (_req, res) => void res.json(HANDLERS.weather()));
    return listening(createServer(app));
  },
  async sessions({ routes, resourceServer, sessions, network, asset }) {
    const app = express();
    app.use(zkSessionMiddleware(routes, resourceServer, sessions, { network, asset }));
    app.use(express.json());
    app.get("/data", (_req, res) => void res.json(HANDLERS.data(res.locals.zkSession as SessionLocals | undefined)));
    app.get("/premium", (_req, res) => void res.json(HANDLERS.premium()));
    app.post("/order", (req, res) => void res.json(HANDLERS.order(req.body)));
    return listening(createServer(app));
  },
};

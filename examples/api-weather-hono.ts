// GET /weather with Hono (402zk/hono: hono + @x402/hono), served by @hono/node-server. PORT (default 4021).
import { serve } from "@hono/node-server";
import { Hono } from "hono";

import { zkPaymentMiddleware } from "402zk/hono";

import { resourceServer, routes } from "./weather-server.js";

const app = new Hono();
app.use(zkPaymentMiddleware(routes, resourceServer));
app.get("/weather", (c) => c.json({ weather: "sunny" }));
const port = Number(process.env.PORT ?? 4021);
serve({ fetch: app.fetch, hostname: "127.0.0.1", port }, () => console.log(`listening on http://127.0.0.1:${port}`));

// GET /weather with Express (402zk/express: express + @x402/express). PORT (default 4021).
import express from "express";

import { zkPaymentMiddleware } from "402zk/express";

import { resourceServer, routes } from "./weather-server.js";

const app = express();
app.use(zkPaymentMiddleware(routes, resourceServer));
app.get("/weather", (_req, res) => res.json({ weather: "sunny" }));
const port = Number(process.env.PORT ?? 4021);
app.listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}`));

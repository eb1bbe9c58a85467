// app/weather/route.ts: GET /weather as a Next.js App Router route handler (402zk/next: next).
import { NextResponse } from "next/server.js";

import { withZkPayment } from "402zk/next";

import { resourceServer, routes } from "../../../weather-server.js";

export const GET = withZkPayment(async () => NextResponse.json({ weather: "sunny" }), routes, resourceServer);

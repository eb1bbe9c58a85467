import { adapterMatrix } from "./matrix.js";
import { expressCase } from "./servers/express.js";
import { honoCase } from "./servers/hono.js";
import { nextCase } from "./servers/next.js";

// Every server adapter, one line each.
adapterMatrix([expressCase, honoCase, nextCase]);

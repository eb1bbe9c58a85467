#!/usr/bin/env node
// The `402zk` CLI, compiled from sdk/cli/main.ts into dist/ (built by `npm run build:sdk`,
// and by `prepare` on `npm ci` and `npm pack`): plain Node, no TypeScript loader.
let run;
try {
  ({ run } = await import("../dist/cli/main.js"));
} catch (err) {
  if (err?.code === "ERR_MODULE_NOT_FOUND" && String(err.message).includes("dist/cli/main.js")) {
    console.error("402zk: the CLI is not built (dist/cli/main.js is missing); run `npm run build:sdk`.");
    process.exit(1);
  }
  throw err;
}
const code = await run(process.argv);
// snarkjs worker threads and keep-alive sockets would otherwise hold the process open.
process.exit(code);

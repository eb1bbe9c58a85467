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
// Under npx / npm exec (and npm scripts), npm starts this file through `sh -c` and
// forwards SIGTERM/SIGINT to that shell only: the shell dies and this process, orphaned,
// would go on serving (`kill` on `npx 402zk serve &` left the port open). So when the
// parent npm gave us goes away, stop as if signalled: servers drain and exit. Outside npm
// a new parent (a closed terminal under nohup, a daemonising shell) is left alone.
if (process.env.npm_lifecycle_event && process.platform !== "win32") {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, "SIGTERM");
  }, 250);
  watch.unref();
}
const code = await run(process.argv);
// snarkjs worker threads and keep-alive sockets would otherwise hold the process open.
process.exit(code);

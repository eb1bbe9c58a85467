#!/usr/bin/env node
// The `402zk` CLI (sdk/cli/main.ts), run from TypeScript sources through tsx. tsx is
// loaded from this package, so `node bin/402zk.js`, `./bin/402zk.js`, `npx 402zk` and
// `npm link` all work from any directory (a `node --import tsx` shebang would resolve
// tsx from the current directory instead).
import "tsx";

const { run } = await import("../sdk/cli/main.ts");
const code = await run(process.argv);
// snarkjs worker threads and keep-alive sockets would otherwise hold the process open.
process.exit(code);

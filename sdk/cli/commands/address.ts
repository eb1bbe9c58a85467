/**
 * `402zk address`: the wallet's shielded address (`zk402...`), where others pay it privately
 * (`402zk serve --shielded` names it as its payee); `--viewing-key` prints the auditor's
 * viewing key (`zk402view...`) instead. Reads the seed only: no chain, no deployment record.
 */
import path from "node:path";

import type { Command } from "commander";

import { WalletKeys } from "../../core/keys.js";
import type { CommandEnv } from "../command.js";
import { defaultWalletDir, loadOrCreateSeed, type GlobalOptions } from "../context.js";
import { info, out } from "../output.js";

/** What `address --viewing-key` says on stderr before the key: who may see it and what it cannot do. */
export const VIEWING_KEY_WARNING =
  "warning: this viewing key reveals every payment this wallet receives (time, amount, condition hash) " +
  "to whoever holds it, for good: hand it only to an auditor you mean to show them. It cannot spend.";

/** Registers `address` on the program. */
export function register(program: Command, _env: CommandEnv): void {
  program
    .command("address")
    .description(
      "print the wallet's shielded address (zk402...): payers pay it privately, payee and amount hidden on chain",
    )
    .option(
      "--viewing-key",
      "print the viewing key (zk402view...) for an auditor instead: it lists incoming payments and cannot spend",
    )
    .option("--json", "print JSON")
    .action((o: { viewingKey?: boolean; json?: boolean }, cmd: Command) => {
      // No createContext: an address is the seed's alone, so it works before any deployment
      // record exists (an API operator configures its payee before the pool is deployed).
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const walletDir = path.resolve(g.wallet ?? defaultWalletDir(g.network));
      const s = loadOrCreateSeed(walletDir);
      if (s.created)
        info(`created a new wallet seed in ${s.source} (mode 0600): back it up, it holds your private notes`);
      const keys = WalletKeys.fromSeed(s.seed);
      const address = keys.address();
      if (o.viewingKey) {
        info(VIEWING_KEY_WARNING);
        const viewingKey = keys.viewingKeyString();
        out(o.json ? JSON.stringify({ address, viewingKey, wallet: walletDir }) : viewingKey);
        return;
      }
      out(o.json ? JSON.stringify({ address, wallet: walletDir }) : address);
    });
}

/**
 * The shape every command file under commands/ shares: `register(program, env)` adds one
 * command to the program; `env` is what main.ts hands to all of them.
 */
import type { Command } from "commander";

import type { CliContext } from "./context.js";

/** What main.ts gives each command when it registers it. */
export interface CommandEnv {
  /**
   * The context of a command's global options (network, RPC, wallet, EOA). main.ts keeps
   * every context it creates and releases their wallet locks when the command ends.
   */
  ctxOf(cmd: Command): CliContext;
  /**
   * How a serving command (`serve`, `facilitator`) waits: by default until SIGINT,
   * SIGTERM or SIGHUP, then it runs `close` (drain and stop); tests pass their own.
   */
  onServe(close: () => Promise<void>): Promise<void>;
}

/**
 * Adds one command to `program`: what each file under commands/ exports as `register`.
 *
 * @example
 * export const register: RegisterCommand = (program, env) => {
 *   program.command("resync").action(async (_o, cmd: Command) => { const ctx = env.ctxOf(cmd); ... });
 * };
 */
export type RegisterCommand = (program: Command, env: CommandEnv) => void;

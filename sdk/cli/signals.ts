/**
 * Signals in the CLI: a payment under way turns SIGINT/SIGTERM into an abort (so that what
 * was sent is reported), and a server (`serve`, `facilitator`) drains before exiting.
 */
import { CliError } from "./errors.js";
import { info } from "./output.js";

/** Exit code of a process ended by `signal` (128 + its number), as a shell reports it. */
export const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Turns SIGINT/SIGTERM into an abort of `signal` while a payment is under way, so that
 * what was sent is printed before the process ends; a second signal ends it at once.
 *
 * @example
 * const interrupt = abortOnSignals();
 * try { await payWithZk(url, { ..., signal: interrupt.signal }); } finally { interrupt.dispose(); }
 */
export function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const on = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(SIGNAL_EXIT[sig] ?? 130);
    ac.abort(
      new CliError(
        SIGNAL_EXIT[sig] ?? 130,
        "interrupted",
        `interrupted (${sig}) before any payment left: nothing was paid`,
      ),
    );
  };
  process.on("SIGINT", on);
  process.on("SIGTERM", on);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
    },
  };
}

/**
 * Waits for SIGINT/SIGTERM/SIGHUP (a closed terminal), then closes the server: the
 * default `onServe` of the serving commands.
 *
 * @example
 * await waitForSignal(() => api.drain(30_000));
 */
export async function waitForSignal(close: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
    const stop = () => {
      for (const s of signals) process.off(s, stop);
      resolve();
    };
    for (const s of signals) process.on(s, stop);
  });
  info("stopping");
  await close();
}

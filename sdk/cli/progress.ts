import type { ProofProgress } from "../core/prover.js";

/** A compact proving progress indicator for a terminal (or a log file). */
export interface ProgressIndicator {
  /** Pass as `onProgress` to the wallet or the client scheme. */
  update(p: ProofProgress): void;
  /** Ends the indicator (idempotent); call after proving, also on failure. */
  end(): void;
}

/**
 * A hand-written progress bar on stderr: `proving [=====     ]  50% FFT`. On a TTY the
 * line is redrawn in place and erased when the proof is ready; elsewhere (pipes, CI
 * logs) it is printed once, growing, as `proving [==========] 100%` without carriage returns.
 *
 * @example
 * const bar = progressBar({ label: "  proving" });
 * await wallet.preparePayment({ ..., onProgress: bar.update });
 * bar.end();
 */
export function progressBar(
  opts: { stream?: NodeJS.WriteStream; label?: string; width?: number; enabled?: boolean; tty?: boolean } = {},
): ProgressIndicator {
  const stream = opts.stream ?? process.stderr;
  const label = opts.label ?? "proving";
  const width = opts.width ?? 20;
  const enabled = opts.enabled ?? true;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  let started = false;
  let drawn = 0; // cells drawn so far (non-TTY mode)
  let ended = false;

  const cells = (fraction: number) => Math.max(0, Math.min(width, Math.round(fraction * width)));

  return {
    update: (p: ProofProgress) => {
      if (!enabled || ended) return;
      if (p.stage === "done") {
        if (tty) {
          if (started) stream.write("\r\x1b[2K");
        } else if (started) {
          stream.write(`${"=".repeat(width - drawn)}] 100%\n`);
        }
        ended = true;
        return;
      }
      const n = cells(p.fraction);
      if (tty) {
        const pct = String(Math.round(p.fraction * 100)).padStart(3);
        stream.write(`\r\x1b[2K${label} [${"=".repeat(n)}${" ".repeat(width - n)}] ${pct}% ${p.message}`);
        started = true;
      } else {
        if (!started) {
          stream.write(`${label} [`);
          started = true;
        }
        if (n > drawn) {
          stream.write("=".repeat(n - drawn));
          drawn = n;
        }
      }
    },
    end: () => {
      if (!enabled || ended) return;
      ended = true;
      if (!started) return;
      stream.write(tty ? "\r\x1b[2K" : "]\n");
    },
  };
}

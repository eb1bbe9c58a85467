/**
 * Progress of a snarkjs Groth16 proof, read from the lines snarkjs logs while it proves:
 * shared by the in-thread prover (prover.ts) and a page's prover worker (402zk/browser).
 */

// Messages snarkjs logs while proving, in order, mapped to progress fractions.
const PROVE_MILESTONES: [RegExp, number, string][] = [
  [/Reading Wtns/i, 0.25, "reading witness"],
  [/Reading Coeffs/i, 0.3, "reading coefficients"],
  [/Building ABC/i, 0.35, "building ABC"],
  [/QAP AB/i, 0.45, "FFT"],
  [/QAP C/i, 0.55, "FFT"],
  [/Joining ABC/i, 0.65, "joining"],
  [/Multiexp A/i, 0.7, "multiexp A"],
  [/Multiexp B1/i, 0.77, "multiexp B1"],
  [/Multiexp B2/i, 0.84, "multiexp B2"],
  [/Multiexp C/i, 0.9, "multiexp C"],
  [/Multiexp H/i, 0.95, "multiexp H"],
];

/** The logger snarkjs' `groth16.prove` takes: reports each milestone once, in order. */
export interface SnarkjsLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/**
 * A snarkjs logger that calls `report(fraction, label)` at each proving milestone.
 *
 * @example
 * await snarkjs.groth16.prove(zkey, wtns, proveProgressLogger((f, label) => bar.update(f, label)));
 */
export function proveProgressLogger(report: (fraction: number, label: string) => void): SnarkjsLogger {
  let next = 0;
  return {
    debug: (msg: string) => {
      for (let i = next; i < PROVE_MILESTONES.length; i++) {
        const [re, fraction, label] = PROVE_MILESTONES[i]!;
        if (re.test(msg)) {
          next = i + 1;
          report(fraction, label);
          break;
        }
      }
    },
    info: () => {},
    warn: () => {},
    error: () => {},
  };
}

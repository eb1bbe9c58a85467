// Minimal typings for the parts of snarkjs 0.7 that 402zk uses (snarkjs ships none).
declare module "snarkjs" {
  export interface Groth16Proof {
    pi_a: string[];
    pi_b: string[][];
    pi_c: string[];
    protocol: string;
    curve: string;
  }
  export interface Logger {
    debug: (msg: string) => void;
    info: (msg: string) => void;
    warn: (msg: string) => void;
    error: (msg: string) => void;
  }
  type FileLike = string | Uint8Array | { type: "mem"; data?: Uint8Array };
  export const groth16: {
    fullProve(
      input: Record<string, unknown>,
      wasm: FileLike,
      zkey: FileLike,
      logger?: Logger,
    ): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    prove(zkey: FileLike, witness: FileLike, logger?: Logger): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    verify(vkey: unknown, publicSignals: readonly (string | bigint)[], proof: Groth16Proof, logger?: Logger): Promise<boolean>;
  };
  export const wtns: {
    calculate(input: Record<string, unknown>, wasm: FileLike, wtns: FileLike): Promise<void>;
    exportJson(wtns: FileLike): Promise<bigint[]>;
  };
  export const zKey: {
    exportVerificationKey(zkey: FileLike): Promise<Record<string, unknown>>;
  };
}

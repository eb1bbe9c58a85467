import type { ChildProcess } from "node:child_process";

/** What a finished child process printed, and its exit code (-1 if killed by a signal). */
export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Collects a spawned child's output until it closes. */
export function collectOutput(child: ChildProcess): Promise<ProcessResult> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

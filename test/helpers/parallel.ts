import os from "node:os";

/**
 * How many proofs a test makes at once. Proving is partly single-threaded (the witness,
 * snarkjs' JavaScript between its multi-threaded FFTs and multiexps), so two proofs in
 * flight keep two cores busy where one leaves the second idle half the time; more than the
 * core count only queues in snarkjs' thread pool.
 */
export const PROOF_CONCURRENCY = Math.max(2, Math.min(4, os.availableParallelism()));

/**
 * Runs `tasks` with at most `limit` in flight and returns their results in task order (a
 * tuple of tasks gives a tuple of results).
 * Tasks start in order, so whatever a task does synchronously before its first await (a
 * test pool's fresh note secrets, say) happens in the same order as in a sequential loop.
 * The first failure rejects; tasks already started finish, none starts after it.
 *
 * @example
 * const proofs = await inOrderConcurrently(notes.map((n, i) => () => pool.prove(n, terms[i]!, { atTree })));
 */
export async function inOrderConcurrently<const T extends readonly (() => Promise<unknown>)[]>(
  tasks: T,
  limit = PROOF_CONCURRENCY,
): Promise<{ -readonly [K in keyof T]: T[K] extends () => Promise<infer R> ? R : never }> {
  const results: unknown[] = new Array(tasks.length);
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < tasks.length) {
      const i = next++;
      try {
        results[i] = await tasks[i]!();
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, lane));
  return results as { -readonly [K in keyof T]: T[K] extends () => Promise<infer R> ? R : never };
}

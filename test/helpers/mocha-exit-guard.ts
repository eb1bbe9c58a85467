/**
 * Mocha root hooks for `npm test` (hardhat.config.ts test.mocha.rootHooks).
 *
 * snarkjs keeps worker threads alive and Hardhat's mocha runner never calls
 * process.exit, so one leaked handle would keep CI waiting until its timeout. After the
 * last test this stops the prover and, if the process is still alive a few seconds
 * after the report, lists what is keeping it alive and exits with the run's exit code.
 */
export const mochaExitGuard = {
  async afterAll(this: unknown) {
    // Imported lazily: hardhat.config.ts loads this file for every Hardhat command.
    const { shutdownProver } = await import("../../sdk/core/prover.js");
    await shutdownProver();
    const timer = setTimeout(() => {
      const handles = (
        process as unknown as { _getActiveHandles(): { constructor: { name: string } }[] }
      )._getActiveHandles();
      console.warn(
        `exit guard: still running 10 s after the tests; open handles: ${handles.map((h) => h.constructor.name).join(", ")}`,
      );
      process.exit(process.exitCode ?? 0);
    }, 10_000);
    timer.unref();
  },
};

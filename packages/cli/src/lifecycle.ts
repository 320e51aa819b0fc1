import type { LedgerStack } from "@ledger/stack";

/**
 * Until a signal: SIGINT/SIGTERM stop intake, drain the consumers (each finishes and commits its
 * batch), hand leases over, flush the producer and close the engines; a second signal exits at
 * once. A role that stops for good (data loss, say) stops the process with exit code 1.
 */
export function stopOnSignal(stack: LedgerStack, log: (line: string) => void, before: () => void = () => {}): void {
  let stoppingSince: number | null = null;
  const shutdown = async (reason: string, code: number) => {
    if (stoppingSince !== null) {
      // Ctrl-C under `pnpm ledger` reaches the process twice (the terminal's process group, and
      // pnpm forwarding it): only a signal sent after the first one is a request to stop at once.
      if (Date.now() - stoppingSince < 1_000) return;
      log(`${reason} again: exiting now`);
      process.exit(1);
    }
    stoppingSince = Date.now();
    before();
    log(`${reason}: stopping intake, draining consumers, flushing, closing`);
    try {
      await stack.stop();
      log("stopped");
    } catch (error) {
      log(`stop failed: ${(error as Error).message}`);
      code = 1;
    }
    process.exit(code);
  };
  process.on("SIGINT", () => void shutdown("SIGINT", 0));
  process.on("SIGTERM", () => void shutdown("SIGTERM", 0));
  stack.onFatal((error) => void shutdown(`fatal error (${error.message})`, 1));
}

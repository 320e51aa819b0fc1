import { anyRunsStored, checkpointOf, keepUpgradedRunsExtended, saveCheckpoint, type LedgerClickHouse } from "@ledger/clickhouse";

/** Windows overlap by this much: a row written just before a pass may become visible after it. */
const OVERLAP_MS = 60_000;
const CHECKPOINT = "run-retention";

/**
 * R1's upgrade for stored runs, as a pass every `intervalMs`: the runs of traces upgraded since
 * the last pass, and the runs written since then whose trace has an upgrade, get their 400-day
 * copies (keepUpgradedRunsExtended). A few statements per pass, whatever the load: asking per
 * batch cost the embedded engine more than the runs themselves. Where the pass got to is kept
 * in ClickHouse, so a restarted sink continues from there; rows are kept at least a day after
 * they were written (runs_v1's TTL), so a pass that comes late still finds them.
 */
export class RunRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly ch: LedgerClickHouse,
    private readonly intervalMs: number,
    private readonly onError: (error: Error) => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.passNow().catch((error: Error) => this.onError(error)), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  /** One pass (tests call it to skip the wait); passes never overlap. */
  passNow(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  private async pass(): Promise<void> {
    const done = await checkpointOf(this.ch, CHECKPOINT);
    const to = Date.now();
    // The first pass ever looks back as far as runs can still be stored (400 days).
    const from = done === 0 ? to - 401 * 86_400_000 : done - OVERLAP_MS;
    // No runs stored, nothing to extend; the window still counts as done, as upgrades written in
    // it can only concern runs written later, which the later window's second copy finds.
    if (await anyRunsStored(this.ch)) await keepUpgradedRunsExtended(this.ch, from, to);
    await saveCheckpoint(this.ch, CHECKPOINT, to);
  }
}

import { soleLeadership, type Leadership } from "@ledger/batching";
import { anyRunsStored, checkpointOf, clickhouseNowMs, keepUpgradedRunsExtended, saveCheckpoint, type LedgerClickHouse } from "@ledger/clickhouse";

/** Where the pass got to: the end of the last window it copied (rows written before it were looked at). */
const CHECKPOINT = "run-retention-settled";
/**
 * The checkpoint of the earlier passes, whose windows overlapped by 60 s because they reached up
 * to the present: a sink upgraded from them starts its first window that much before it.
 */
const OVERLAPPING_CHECKPOINT = "run-retention";
const OVERLAPPING_MS = 60_000;

/**
 * R1's upgrade for stored runs, as a pass every `intervalMs`: the runs of traces upgraded in the
 * pass's window, and the runs written in it whose trace was upgraded before it, get their
 * 400-day copies (keepUpgradedRunsExtended). A few statements per pass, whatever the load:
 * asking per batch cost the embedded engine more than the runs themselves.
 *
 * A window ends `settleMs` before ClickHouse's present, so every row written in it is visible
 * when the pass reads it (an insert's `ingested_at` is taken when it starts), and windows follow
 * each other without overlapping: each run is copied once (overlapping windows would copy an
 * upgraded run once per overlap). Where the pass got to is kept in ClickHouse, so a
 * restarted sink continues from there; rows are kept at least a day after they were written
 * (runs_v1's TTL), so a pass that comes late still finds them. With several sink instances only
 * the holder of the pass's lease runs it: two passes from one checkpoint would copy a window twice.
 */
export class RunRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly ch: LedgerClickHouse,
    private readonly options: { intervalMs: number; settleMs: number },
    private readonly onError: (error: Error) => void,
    /** Wraps each timed pass (the sink times them: `ledger_sink_insert_seconds{table="runs_v1.retention_pass"}`). */
    private readonly timed: (work: () => Promise<void>) => Promise<void> = (work) => work(),
    private readonly leadership: Leadership = soleLeadership,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.leadership.leads()) void this.timed(() => this.passNow()).catch((error: Error) => this.onError(error));
    }, this.options.intervalMs);
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
    // ClickHouse's clock, not this process's: `ingested_at` is ClickHouse's.
    const to = (await clickhouseNowMs(this.ch)) - this.options.settleMs;
    const from = await this.windowStart(to);
    if (to <= from) return;
    await this.leadership.confirm();
    // No runs stored, nothing to extend; the window still counts as done, as upgrades written in
    // it can only concern runs written later, which a later window's second copy finds.
    if (await anyRunsStored(this.ch)) await keepUpgradedRunsExtended(this.ch, from, to);
    await this.leadership.confirm();
    await saveCheckpoint(this.ch, CHECKPOINT, to);
  }

  private async windowStart(to: number): Promise<number> {
    const done = await checkpointOf(this.ch, CHECKPOINT);
    if (done > 0) return done;
    const overlapping = await checkpointOf(this.ch, OVERLAPPING_CHECKPOINT);
    // The first pass ever looks back as far as runs can still be stored (400 days).
    return overlapping > 0 ? overlapping - OVERLAPPING_MS : to - 401 * 86_400_000;
  }
}

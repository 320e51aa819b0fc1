import { Counter, Gauge, type Registry } from "prom-client";
import { sealQuietHours, type LedgerClickHouse } from "@ledger/clickhouse";
import { NotLeaderError, Repeater, soleLeadership, type Leadership } from "@ledger/batching";
import type { SealerConfig } from "./config";

export interface SealerDeps {
  clickhouse: LedgerClickHouse;
  config: SealerConfig;
  registry: Registry;
  /** Wall-clock epoch ms: seals are compared with the instants ClickHouse stamped rows with. */
  now: () => number;
  log: (line: string) => void;
  /** Which of the role's instances seals (one process alone: always this one). */
  leadership?: Leadership;
}

/**
 * Seals the hourly rollups (trace_hour_seals_v1): each (org, workspace, UTC hour) that has had no
 * new row for `quietMs` gets exact counts of its distinct traces, so the usage page, /v1/usage
 * and the invoices read a few rows per hour instead of one per trace. Sealing is an optimization
 * only: an hour that is not sealed (the open one), or that received a row after its seal (a late
 * event, a re-delivery), is counted from its rows by daily_booked_counts_v1, exactly.
 *
 * A seal is dated `quietMs / 2` before its round started, never after a row it could have missed:
 * rows are stamped when their insert runs and become visible when it ends, and an insert still
 * running as the round began is newer than that date, so its hour stays unsealed until next round
 * (as long as no insert takes longer than `quietMs / 2`).
 *
 * Every instance of the role runs; only the leader seals, confirming its lease before each batch.
 * A seal written late by an instance that lost its lease is still dated before its round began,
 * so it can only be older than a row, never hide one.
 */
export class Sealer {
  private readonly repeater: Repeater;
  private readonly sealed: Counter;
  private readonly failures: Counter;
  private readonly leadership: Leadership;

  constructor(private readonly deps: SealerDeps) {
    this.sealed = new Counter({ name: "ledger_hours_sealed_total", help: "Hourly rollups (org, workspace, hour) sealed or resealed", registers: [deps.registry] });
    this.failures = new Counter({ name: "ledger_sealer_failures_total", help: "Sealing rounds that failed (retried on the next one)", registers: [deps.registry] });
    const leadership = (this.leadership = deps.leadership ?? soleLeadership);
    new Gauge({
      name: "ledger_sealer_leader",
      help: "1 while this instance is the sealer that seals hourly rollups",
      registers: [deps.registry],
      collect() {
        this.set(leadership.leads() ? 1 : 0);
      },
    });
    this.repeater = new Repeater(deps.config.intervalMs, () =>
      (leadership.leads() ? this.round() : Promise.resolve(0)).then(
        () => undefined,
        (error: Error) => {
          if (error instanceof NotLeaderError) return;
          this.failures.inc();
          this.deps.log(`sealer: sealing failed (retried): ${error.message}`);
        },
      ),
    );
  }

  start(): void {
    this.repeater.start();
  }

  stop(): Promise<void> {
    return this.repeater.stop();
  }

  /** One round: seals every hour quiet since `quietMs` before now, in batches; returns how many. */
  async round(): Promise<number> {
    const startedAt = this.deps.now();
    const quietMs = this.deps.config.quietMs;
    let total = 0;
    for (;;) {
      await this.leadership.confirm();
      const r = await sealQuietHours(this.deps.clickhouse, { quietBeforeMs: startedAt - quietMs, sealedAtMs: startedAt - Math.floor(quietMs / 2), limit: this.deps.config.batchHours });
      total += r.sealed;
      this.sealed.inc(r.sealed);
      if (r.remaining === 0 || r.sealed === 0) break;
      this.deps.log(`sealer: ${total} hour(s) sealed, ${r.remaining} to go`);
    }
    return total;
  }
}

import { AccountDirectory } from "@ledger/accounts";
import type { AccountEvent } from "@ledger/events";

/**
 * Every ingest replica's copy of the accounts (§7): the account events materialized in
 * ClickHouse, folded into an AccountDirectory, reloaded every `refreshMs` (a change, a
 * revocation included, takes effect on every replica within refreshMs + the sink's delay).
 * Changes made through this replica's admin API apply at once. An unknown key triggers an early
 * reload (at most once a second), so a key created on another replica works within about a second.
 */
export class AccountCache {
  private directory = new AccountDirectory();
  private local: AccountEvent[] = [];
  private loadedAt = 0;
  private loading: Promise<void> | null = null;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly load: () => Promise<AccountEvent[]>,
    private readonly refreshMs: number,
    private readonly onError: (error: Error) => void = () => {},
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch(this.onError), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get current(): AccountDirectory {
    return this.directory;
  }

  /** Applies an event this replica just published (acknowledged by Kafka) before ClickHouse has it. */
  applyLocal(event: AccountEvent): void {
    this.local.push(event);
    this.directory.apply(event);
  }

  refresh(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const startedAt = Date.now();
        const events = await this.load();
        const stored = new Set(events.map((e) => `${e.org_id}/${e.id}`));
        // Local changes not yet in ClickHouse are applied again on top, in their order.
        this.local = this.local.filter((e) => !stored.has(`${e.org_id}/${e.id}`));
        this.directory = AccountDirectory.of([...events, ...this.local]);
        this.loadedAt = startedAt;
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  /** For an unknown key: reload if the copy is older than a second, then the caller looks again. */
  async refreshIfStale(): Promise<void> {
    if (Date.now() - this.loadedAt >= 1_000) await this.refresh();
  }
}

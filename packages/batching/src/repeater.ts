/**
 * Runs a pass, waits `intervalMs` after it ends, runs the next: passes never overlap, and
 * `stop()` resolves once the pass in progress (if any) has ended. The pass handles its own errors.
 */
export class Repeater {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly pass: () => Promise<void>,
  ) {}

  start(): void {
    const tick = () => {
      this.running = this.pass().finally(() => {
        this.running = null;
        if (this.timer) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    this.timer = setTimeout(tick, this.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}

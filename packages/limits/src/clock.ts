/**
 * The ledger's clock: hours and months of every limit are the clock's when a request arrives
 * (§6.2), and tests move it across hour and month boundaries without sleeping.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export class ManualClock implements Clock {
  private ms: number;
  constructor(start: number | string) {
    this.ms = typeof start === "string" ? Date.parse(start) : start;
  }
  now(): number {
    return this.ms;
  }
  set(at: number | string): void {
    this.ms = typeof at === "string" ? Date.parse(at) : at;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

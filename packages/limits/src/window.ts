import { periodOf } from "@ledger/billing";

/** A counting window [startMs, endMs) with a stable key. */
export interface LimitWindow {
  key: string;
  startMs: number;
  endMs: number;
}

const HOUR = 3_600_000;

/** The UTC clock hour of an instant: plan limits per hour (§6.2). */
export function clockHour(nowMs: number): LimitWindow {
  const startMs = Math.floor(nowMs / HOUR) * HOUR;
  return { key: new Date(startMs).toISOString().slice(0, 13), startMs, endMs: startMs + HOUR };
}

/** The UTC calendar month of an instant: trace caps and workspace limits (§6.2, §6.3). */
export function calendarMonth(nowMs: number): LimitWindow {
  return periodOf(nowMs);
}

export const previousWindow = (w: LimitWindow, of: (ms: number) => LimitWindow) => of(w.startMs - 1);

/** Seconds until `resetsAtMs`, rounded up, at least 1 (a `Retry-After` of 0 invites a retry storm). */
export const retryAfterSeconds = (resetsAtMs: number, nowMs: number) => Math.max(1, Math.ceil((resetsAtMs - nowMs) / 1000));

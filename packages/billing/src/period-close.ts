import { isPeriodKey } from "./period";

/**
 * Period close (spec §10.4, C1–C2), as a consumer sees it in one partition. Closing P closes
 * every earlier period too, so what a partition has closed is one figure: the latest period
 * whose marker came before the current position (null: none yet).
 */

/** "2024-12" → "2025-01". Plain arithmetic: it runs for every event on the sink's hot path. */
export function nextPeriodKey(key: string): string {
  if (!isPeriodKey(key)) throw new RangeError(`not a billing period key (YYYY-MM): ${JSON.stringify(key)}`);
  const y = Number(key.slice(0, 4));
  const m = Number(key.slice(5, 7));
  return m === 12 ? `${String(y + 1).padStart(4, "0")}-01` : `${key.slice(0, 5)}${m < 9 ? "0" : ""}${m + 1}`;
}

export function previousPeriodKey(key: string): string {
  if (!isPeriodKey(key)) throw new RangeError(`not a billing period key (YYYY-MM): ${JSON.stringify(key)}`);
  const y = Number(key.slice(0, 4));
  const m = Number(key.slice(5, 7));
  return m === 1 ? `${String(y - 1).padStart(4, "0")}-12` : `${key.slice(0, 5)}${m < 11 ? "0" : ""}${m - 1}`;
}

/**
 * The invoice an effect of `effectPeriod` is booked on when its cause is processed where the
 * partition has closed everything up to `closedThrough` (C2, C4): its own period while that is
 * open (in time), otherwise the first period that was not closed (late).
 */
export function bookingPeriod(effectPeriod: string, closedThrough: string | null): string {
  if (closedThrough === null || effectPeriod > closedThrough) return effectPeriod;
  return nextPeriodKey(closedThrough);
}

/** The later of what a partition had closed and a marker's period (a marker never reopens). */
export const closedAfterMarker = (closedThrough: string | null, marker: string): string =>
  closedThrough === null || marker > closedThrough ? marker : closedThrough;

/** Every period from `first` to `last`, both included ([] when first is after last). */
export function periodsBetween(first: string, last: string): string[] {
  const out: string[] = [];
  for (let p = first; p <= last; p = nextPeriodKey(p)) out.push(p);
  return out;
}

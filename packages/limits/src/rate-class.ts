/** Per-key rate limit classes of §6.1, with their limit per one-minute window. */
export const RATE_LIMITS = {
  sessions_delete: 30,
  runs: 5_000,
  feedback: 5_000,
  other: 2_000,
} as const;
export type RateClass = keyof typeof RATE_LIMITS;
export const RATE_WINDOW_MS = 60_000;

/** Which class a request belongs to; the `/api/v1` prefix does not matter. */
export function rateClassOf(method: string, path: string): RateClass {
  const p = (path.split("?")[0] ?? "").replace(/^\/api\/v1(?=\/)/, "").replace(/\/+$/, "");
  const m = method.toUpperCase();
  if (m === "DELETE" && /^\/sessions\/[^/]+$/.test(p)) return "sessions_delete";
  if (m === "POST" && (p === "/runs" || p === "/runs/batch" || p === "/runs/multipart")) return "runs";
  if (m === "PATCH" && /^\/runs\/[^/]+$/.test(p)) return "runs";
  if (m === "POST" && p === "/feedback") return "feedback";
  return "other";
}

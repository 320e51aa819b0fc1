import fc from "fast-check";
import { DateTime } from "luxon";
import { describe, expect, test } from "vitest";
import { burndownOf, commitmentGrant, commitmentsDue, periodFromKey, termYearOf, type AnnualCommitment, type CommitmentConfiguration } from "../src";

// AC1 against a naive reading: a ledger whose time moves forward while configurations arrive
// (some dated in the past), issuing at every step each term year some configuration in effect
// during it (up to now) names, once per term year. Every date is a midnight, so looking at each
// midnight of a term year sees every configuration that is ever in effect in it.
const START = Date.UTC(2024, 0, 1);
const DAY = 86_400_000;

const config = fc.record({
  daysFromStart: fc.nat({ max: 1200 }),
  enterprise: fc.boolean(),
  commitment: fc.option(fc.record({ dollars: fc.integer({ min: 1, max: 9 }), termStartMonth: fc.nat({ max: 36 }) }), { nil: undefined }),
});
/** Steps: the time moves forward by some days, or a configuration arrives. */
const steps = fc.array(fc.oneof(fc.record({ advanceDays: fc.integer({ min: 1, max: 200 }) }), fc.record({ arrives: config })), { maxLength: 30 });

const monthKey = (dt: DateTime) => dt.toFormat("yyyy-MM");
const utc = (ms: number) => DateTime.fromMillis(ms, { zone: "utc" });

/** The term years of a term start, by whole years with luxon: those that begin before `until`. */
function naiveTermYears(termStart: string, untilMs: number): string[] {
  const out: string[] = [];
  for (let y = DateTime.fromFormat(termStart, "yyyy-MM", { zone: "utc" }); y.toMillis() < untilMs; y = y.plus({ years: 1 })) out.push(monthKey(y));
  return out;
}

/** The configuration in effect at an instant: the latest dated not after it, the later arrival on a tie. */
const inEffectAt = (known: readonly CommitmentConfiguration[], atMs: number) =>
  known.filter((k) => k.occurredAtMs <= atMs).reduce<CommitmentConfiguration | undefined>((a, k) => (a === undefined || k.occurredAtMs >= a.occurredAtMs ? k : a), undefined);

/** Naively: for each term year any configuration names, its midnights up to now, in order; the first that is in effect and names it. */
function naiveDue(known: readonly CommitmentConfiguration[], nowMs: number, issued: ReadonlySet<string>): Map<string, bigint> {
  const due = new Map<string, bigint>();
  const years = new Set(known.flatMap((k) => (k.commitment ? naiveTermYears(k.commitment.termStart, nowMs + 1) : [])));
  for (const y of [...years].sort()) {
    if (issued.has(y)) continue;
    const start = DateTime.fromFormat(y, "yyyy-MM", { zone: "utc" });
    for (let d = start; d < start.plus({ years: 1 }) && d.toMillis() <= nowMs; d = d.plus({ days: 1 })) {
      const c = inEffectAt(known, d.toMillis());
      if (c?.plan === "enterprise" && c.commitment && naiveTermYears(c.commitment.termStart, d.toMillis() + 1).includes(y)) {
        due.set(y, c.commitment.commitmentMicros);
        break;
      }
    }
  }
  return due;
}

describe("AC1: annual invoices (property)", () => {
  test("each term year is issued once, once it has begun and a configuration in effect during it names it", () => {
    fc.assert(
      fc.property(steps, (plan) => {
        let now = START;
        const known: CommitmentConfiguration[] = [];
        const issued = new Set<string>();
        for (const step of plan) {
          if ("advanceDays" in step) now += step.advanceDays * DAY;
          else {
            const c = step.arrives;
            known.push({
              occurredAtMs: START + c.daysFromStart * DAY,
              plan: c.enterprise ? "enterprise" : "plus",
              ...(c.commitment ? { commitment: { commitmentMicros: BigInt(c.commitment.dollars) * 1_000_000n, termStart: monthKey(utc(START).plus({ months: c.commitment.termStartMonth })) } } : {}),
            });
          }
          const expected = naiveDue(known, now, issued);
          const due = commitmentsDue("acme", known, now, issued);
          expect(new Map(due.map((a) => [a.termStart, a.commitmentMicros]))).toEqual(expected);
          for (const a of due) {
            expect(a.issuedAtMs).toBe(now);
            expect(utc(periodFromKey(a.lastPeriod).startMs).diff(utc(periodFromKey(a.termStart).startMs), "months").months).toBe(11);
            issued.add(a.termStart);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test("term years: twelve periods from the term's start, none before it", () => {
    expect(termYearOf("2024-06", "2024-05")).toBeNull();
    expect(termYearOf("2024-06", "2024-06")).toBe("2024-06");
    expect(termYearOf("2024-06", "2025-05")).toBe("2024-06");
    expect(termYearOf("2024-06", "2025-06")).toBe("2025-06");
    expect(termYearOf("2024-11", "2027-02")).toBe("2026-11");
  });

  test("a contract entered late and dated back bills each term year it held; one entered mid-year bills the year it enters", () => {
    const enterprise = (at: string, termStart: string): CommitmentConfiguration => ({ occurredAtMs: Date.parse(at), plan: "enterprise", commitment: { commitmentMicros: 1_000_000n, termStart } });
    // Due at the term's first instant (AC1), not a millisecond later.
    expect(commitmentsDue("acme", [enterprise("2024-01-01T00:00:00Z", "2024-06")], Date.parse("2024-06-01T00:00:00Z"), new Set()).map((a) => a.termStart)).toEqual(["2024-06"]);
    expect(commitmentsDue("acme", [enterprise("2024-01-01T00:00:00Z", "2024-06")], Date.parse("2024-05-31T23:59:59.999Z"), new Set())).toEqual([]);
    const now = Date.parse("2026-12-06T00:00:00Z");
    expect(commitmentsDue("acme", [enterprise("2024-01-01T00:00:00Z", "2024-06")], now, new Set()).map((a) => a.termStart)).toEqual(["2024-06", "2025-06", "2026-06"]);
    expect(commitmentsDue("acme", [enterprise("2026-07-15T00:00:00Z", "2024-06")], now, new Set(["2025-06"])).map((a) => a.termStart)).toEqual(["2026-06"]);
    const leaves = { occurredAtMs: Date.parse("2025-03-01T00:00:00Z"), plan: "plus" };
    expect(commitmentsDue("acme", [enterprise("2024-01-01T00:00:00Z", "2024-06"), leaves], now, new Set()).map((a) => a.termStart)).toEqual(["2024-06"]);
  });
});

describe("AC2 and AC3", () => {
  const a: AnnualCommitment = { orgId: "acme", termStart: "2024-07", lastPeriod: "2025-06", commitmentMicros: 3_000_000_000n, issuedAtMs: Date.UTC(2024, 6, 21), closedBefore: "2024-06" };

  test("the grant covers the term year and is known where its configuration is", () => {
    expect(commitmentGrant(a)).toEqual({ grantId: "commitment/acme/2024-07", amountMicros: 3_000_000_000n, firstPeriod: "2024-07", lastPeriod: "2025-06", reason: "commitment", grantedAtMs: a.issuedAtMs, closedBefore: "2024-06" });
  });

  test("the burndown projects the remaining balance at the last 30 days' rate from the first period not yet final", () => {
    const at = (remaining: bigint, spent: bigint, firstOpen = "2024-07") =>
      burndownOf({ commitment: a, consumedMicros: a.commitmentMicros - remaining, remainingMicros: remaining, currentPeriod: "2024-08", firstOpenPeriod: firstOpen, spentLast30DaysMicros: spent });
    // $600 in 30 days is $20 a day: $3,000 lasts 150 days from 1 July, into November.
    expect(at(3_000_000_000n, 600_000_000n)).toMatchObject({ rate_usd_per_day: "20.00", runs_out: "2024-11", months_left: 11, remaining_usd: "3000.00" });
    // 1 July + 31 days is 1 August: the balance runs out exactly at August's first instant.
    expect(at(620_000_000n, 600_000_000n).runs_out).toBe("2024-08");
    expect(at(619_999_999n, 600_000_000n).runs_out).toBe("2024-07");
    // Nothing spent, or a rate that outlasts the term: it lasts the term.
    expect(at(3_000_000_000n, 0n).runs_out).toBeNull();
    expect(at(3_000_000_000n, 200_000_000n).runs_out).toBeNull();
    // An exhausted commitment runs out in the first period not yet final.
    expect(at(0n, 600_000_000n, "2024-09").runs_out).toBe("2024-09");
  });
});

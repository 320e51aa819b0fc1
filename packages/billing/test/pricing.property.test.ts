import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { chargesFor, formatUsd } from "../src";

describe("pricing (spec §4)", () => {
  test("charges are exact: base $0.0005, upgrade $0.0045, extended trace 10× a base one", () => {
    fc.assert(
      fc.property(fc.nat({ max: 10_000_000_000 }), fc.nat({ max: 10_000_000_000 }), (base, upgrades) => {
        const c = chargesFor(base, upgrades);
        expect(c.baseChargeMicros).toBe(BigInt(base) * 500n);
        expect(c.upgradeChargeMicros).toBe(BigInt(upgrades) * 4_500n);
      }),
    );
    const one = chargesFor(1, 1);
    expect(one.baseChargeMicros + one.upgradeChargeMicros).toBe(10n * chargesFor(1, 0).baseChargeMicros);
  });

  test("the decimal string reads back to the same micro-dollars", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), (micros) => {
        const text = formatUsd(micros);
        expect(text).toMatch(/^\d+\.\d{2,6}$/);
        const [whole, fraction] = text.split(".") as [string, string];
        expect(BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, "0"))).toBe(micros);
      }),
    );
    expect(formatUsd(500n)).toBe("0.0005");
    expect(formatUsd(5_000_000n)).toBe("5.00");
    expect(formatUsd(0n)).toBe("0.00");
  });
});

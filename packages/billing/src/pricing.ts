/**
 * Prices in integer micro-dollars (spec §4): money never touches binary floating point.
 * base $0.0005 per trace; upgrade $0.0045 per trace.
 */
export const BASE_TRACE_PRICE_MICROS = 500n;
export const EXTENDED_UPGRADE_PRICE_MICROS = 4_500n;

export interface Charges {
  baseChargeMicros: bigint;
  upgradeChargeMicros: bigint;
}

export function chargesFor(baseTraces: bigint | number, extendedUpgrades: bigint | number): Charges {
  return {
    baseChargeMicros: BigInt(baseTraces) * BASE_TRACE_PRICE_MICROS,
    upgradeChargeMicros: BigInt(extendedUpgrades) * EXTENDED_UPGRADE_PRICE_MICROS,
  };
}

/**
 * Exact decimal dollars: at least two decimals, at most six, no trailing zeros beyond two.
 * 500n → "0.0005", 5_000_000n → "5.00", 1_234_567n → "1.234567".
 */
export function formatUsd(micros: bigint): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const whole = abs / 1_000_000n;
  let fraction = (abs % 1_000_000n).toString().padStart(6, "0");
  while (fraction.length > 2 && fraction.endsWith("0")) fraction = fraction.slice(0, -1);
  return `${negative ? "-" : ""}${whole}.${fraction}`;
}

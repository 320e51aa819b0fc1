import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * API keys (spec §7): `lsv2_pt_` (personal) or `lsv2_sk_` (service) followed by 43 random
 * base64url characters (256 bits). A key is shown once and stored only as its sha256 hash:
 * the hash of a 256-bit random secret cannot be reversed or guessed, so no salt is needed.
 */
export type KeyKind = "personal" | "service";
const PREFIX: Record<KeyKind, string> = { personal: "lsv2_pt_", service: "lsv2_sk_" };
const KEY_SHAPE = /^lsv2_(pt|sk)_[A-Za-z0-9_-]{32,200}$/;

export function generateApiKey(kind: KeyKind): { key: string; keyHash: string; keyId: string } {
  const key = PREFIX[kind] + randomBytes(32).toString("base64url");
  return { key, keyHash: hashApiKey(key), keyId: `key-${randomBytes(8).toString("hex")}` };
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export const looksLikeApiKey = (value: string) => KEY_SHAPE.test(value);

/** Compares a presented secret with the platform key without leaking its length or content by timing. */
export function sameSecret(presented: string, expected: string): boolean {
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** A platform key for `ledger serve` to generate when none is configured. */
export const generatePlatformKey = () => `lsv2_sk_platform_${randomBytes(32).toString("base64url")}`;

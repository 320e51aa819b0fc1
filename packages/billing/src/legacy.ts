/**
 * Legacy organizations (spec §7.2, LG1): created before pricing began, billed from July 2024,
 * and capped like Developer from 8 July 2024 while they have no payment method.
 */
export const PRICING_STARTED_MS = Date.UTC(2024, 3, 2);
export const LEGACY_CAP_FROM_MS = Date.UTC(2024, 6, 8);
/** The first period a legacy organization is charged for. */
export const LEGACY_BILLED_FROM = "2024-07";
export const LEGACY_REASON = "legacy organization (created before 2024-04-02): no charge before 2024-07 (LG1)";

export const isLegacyCreation = (createdAtMs: number | undefined): boolean => createdAtMs !== undefined && createdAtMs < PRICING_STARTED_MS;

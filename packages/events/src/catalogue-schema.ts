import { z } from "zod";
import { usdAmount } from "./account-schemas";
import { periodKey } from "./billing-schemas";

/**
 * A price catalogue version as the admin API takes it (spec §10.1): the first period it applies
 * to and every price of the Developer and Plus plans (Startup and Enterprise pay Plus's unless
 * their contract says otherwise). Prices as exact decimal strings of dollars.
 */
const count = z.number({ error: "must be a whole number" }).int({ error: "must be a whole number" }).min(0, { error: "must not be negative" });
const planPrices = z.strictObject({
  base_trace_usd: usdAmount,
  upgrade_usd: usdAmount,
  deployment_run_usd: usdAmount,
  seat_usd: usdAmount,
  free_base_traces: count,
});
export const catalogueVersionInput = z.strictObject({
  /** The next version number; omitted: the next one. */
  version: count.min(2, { error: "must be at least 2 (version 1 is §10.1's defaults)" }).optional(),
  first_period: periodKey,
  plans: z.strictObject({ developer: planPrices, plus: planPrices }),
});
export type CatalogueVersionInput = z.output<typeof catalogueVersionInput>;

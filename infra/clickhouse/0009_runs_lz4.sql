-- Run data compressed with LZ4 instead of ZSTD(3). Runs are the bulk of what the LangSmith API
-- writes, kept 14 days for most traces, and merged several times on their way: compressing them
-- with ZSTD(3) at every insert and merge cost the embedded engine about a tenth of the ledger's
-- CPU under `pnpm bench --langsmith` (45.4 → 39.7 CPU seconds for 30,000 traces), at the price of
-- larger parts (300,000 synthetic runs: 11.3 MiB with LZ4, 3.9 MiB with ZSTD(3); natural text
-- compresses less with either, so the gap narrows). A codec change is metadata only: existing parts keep ZSTD until merged.
ALTER TABLE {{database}}.runs_v1 MODIFY COLUMN run String CODEC(LZ4);

ALTER TABLE {{database}}.runs_v1 MODIFY COLUMN attachments String CODEC(LZ4);

-- Remembers one request's runs, traces and anchors (RunTraceIndex.remember) in one round trip:
-- a request of a few hundred runs was as many commands in a MULTI, each a command object and a
-- reply on the ingest thread.
-- ARGV: ttl_s, n_if_absent, then one value per key. The first n_if_absent keys are set only if
-- absent (a trace's owner, a run's trace, a stand-in anchor); the rest are set (a root's anchor).
local ttl = ARGV[1]
local nx = tonumber(ARGV[2])
for i = 1, #KEYS do
  if i <= nx then
    redis.call('SET', KEYS[i], ARGV[i + 2], 'EX', ttl, 'NX')
  else
    redis.call('SET', KEYS[i], ARGV[i + 2], 'EX', ttl)
  end
end
return #KEYS

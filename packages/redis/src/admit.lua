-- Checks every counter of one request and, only if none would pass its limit, counts the request
-- in all of them: one atomic step shared by every ingest replica (spec §6.1, §6.4).
-- ARGV: now_ms, n_checks, then per check: kind, limit (-1: none), ttl_ms, and
--   rate ('r'):     window_ms                         KEYS: hash {s = window start, c = count}
--   distinct ('d'): resets_ms, n, member...           KEYS: set, previous window's set, seed marker
--   sum ('s'):      resets_ms, of (1-based), n, weight...  KEYS: counter
-- Returns {'ok'}, {'refused', i, current, requested, resets_ms} or {'seed', i...} (counters
-- that must first be rebuilt from ClickHouse).
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local a, k = 3, 1
local checks, unseeded = {}, {}
for i = 1, n do
  local c = { kind = ARGV[a], limit = tonumber(ARGV[a + 1]), ttl = tonumber(ARGV[a + 2]) }
  a = a + 3
  if c.kind == 'r' then
    c.key = KEYS[k]; k = k + 1
    local window = tonumber(ARGV[a]); a = a + 1
    local start = tonumber(redis.call('HGET', c.key, 's') or '-1')
    local count = tonumber(redis.call('HGET', c.key, 'c') or '0')
    -- A window opens with the first request when none is open, and lasts window_ms.
    if start < 0 or now >= start + window or now < start then start = now; count = 0 end
    c.start, c.current, c.requested, c.resets = start, count, 1, start + window
  elseif c.kind == 'd' then
    c.key, c.prev, c.seed = KEYS[k], KEYS[k + 1], KEYS[k + 2]; k = k + 3
    c.resets = tonumber(ARGV[a]); local m = tonumber(ARGV[a + 1]); a = a + 2
    if redis.call('EXISTS', c.seed) == 0 then unseeded[#unseeded + 1] = i end
    c.new, c.isnew = {}, {}
    -- Distinct members of the request, then one SMISMEMBER per 4,000 of them; the previous
    -- window's set only matters while it exists (a retry across the boundary).
    local uniq, at, seen = {}, {}, {}
    for j = 1, m do
      local member = ARGV[a + j - 1]
      if not seen[member] then seen[member] = true; uniq[#uniq + 1] = member; at[#uniq] = j end
    end
    local prev = redis.call('EXISTS', c.prev) == 1
    for s = 1, #uniq, 4000 do
      local chunk = { unpack(uniq, s, math.min(s + 3999, #uniq)) }
      local here = redis.call('SMISMEMBER', c.key, unpack(chunk))
      local before = prev and redis.call('SMISMEMBER', c.prev, unpack(chunk)) or nil
      for t = 1, #chunk do
        if here[t] == 0 and (before == nil or before[t] == 0) then
          c.new[#c.new + 1] = chunk[t]; c.isnew[at[s + t - 1]] = true
        end
      end
    end
    a = a + m
    c.current, c.requested = redis.call('SCARD', c.key), #c.new
  else
    c.key = KEYS[k]; k = k + 1
    c.resets = tonumber(ARGV[a]); local of = checks[tonumber(ARGV[a + 1])]; local m = tonumber(ARGV[a + 2]); a = a + 3
    local add = 0
    for j = 1, m do if of.isnew[j] then add = add + tonumber(ARGV[a + j - 1]) end end
    a = a + m
    c.current, c.requested = tonumber(redis.call('GET', c.key) or '0'), add
  end
  checks[i] = c
end
if #unseeded > 0 then return { 'seed', unpack(unseeded) } end
for i = 1, n do
  local c = checks[i]
  if c.limit >= 0 and c.requested > 0 and c.current + c.requested > c.limit then
    return { 'refused', i, c.current, c.requested, c.resets }
  end
end
for i = 1, n do
  local c = checks[i]
  if c.kind == 'r' then
    redis.call('HSET', c.key, 's', c.start, 'c', c.current + 1)
  elseif c.kind == 'd' then
    for j = 1, #c.new, 4000 do redis.call('SADD', c.key, unpack(c.new, j, math.min(j + 3999, #c.new))) end
  elseif c.requested > 0 then
    redis.call('INCRBY', c.key, c.requested)
  end
  redis.call('PEXPIRE', c.key, c.ttl)
end
return { 'ok' }

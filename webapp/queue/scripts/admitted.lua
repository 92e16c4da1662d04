-- Count one admission in the current minute (by Redis' clock) for the console's chart and rate.
-- KEYS[1]=per-minute statistics hash. Returns the minute's count. The hash lives two hours past its last write.
local t = redis.call('TIME')
local minute = math.floor(tonumber(t[1]) / 60)
local count = redis.call('HINCRBY', KEYS[1], 'a:' .. minute, 1)
redis.call('PEXPIRE', KEYS[1], 7200000)
return count

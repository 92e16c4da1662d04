-- Create or repair a queue by max-merge: values only ever grow, so a replica re-seeding after Redis
-- lost its data can never hand out a position twice or move the window backwards.
-- KEYS[1]=counter KEYS[2]=window hash KEYS[3]=controls hash
-- ARGV[1]=last position seen ARGV[2]=window_end seen (0 when none)
-- ARGV[3..8]=controls to store where Redis has none: window_size, interval (ms), active_window_count,
-- paused (0/1), epoch, message. Controls already stored are kept (HSETNX), except that the epoch never
-- goes back below ARGV[7]. A new queue's window_end is its stored window_size.
-- Returns {last position, window_end}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local names = {'window_size', 'interval_ms', 'active_window_count', 'paused', 'epoch', 'message'}
for i, name in ipairs(names) do
  redis.call('HSETNX', KEYS[3], name, ARGV[2 + i])
end
if tonumber(redis.call('HGET', KEYS[3], 'epoch')) < tonumber(ARGV[7]) then
  redis.call('HSET', KEYS[3], 'epoch', ARGV[7])
end
local size = tonumber(redis.call('HGET', KEYS[3], 'window_size'))
local interval = tonumber(redis.call('HGET', KEYS[3], 'interval_ms'))
local last = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(ARGV[1]))
local window_end = math.max(tonumber(redis.call('HGET', KEYS[2], 'window_end') or size), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], last)
redis.call('HSET', KEYS[2], 'window_end', window_end)
if redis.call('HEXISTS', KEYS[2], 'next_due') == 0 then
  redis.call('HSET', KEYS[2], 'next_due', now + interval)
end
return {last, window_end}

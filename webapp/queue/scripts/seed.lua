-- Create or repair a queue by max-merge: values only ever grow, so a replica re-seeding after Redis
-- lost its data can never hand out a position twice or move the window backwards.
-- KEYS[1]=counter KEYS[2]=window hash; ARGV[1]=last position seen ARGV[2]=window_end seen (>= size)
-- ARGV[3]=slide interval in ms. Returns {last position, window_end}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(ARGV[1]))
local window_end = math.max(tonumber(redis.call('HGET', KEYS[2], 'window_end') or '0'), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], last)
redis.call('HSET', KEYS[2], 'window_end', window_end)
if redis.call('HEXISTS', KEYS[2], 'next_due') == 0 then
  redis.call('HSET', KEYS[2], 'next_due', now + tonumber(ARGV[3]))
end
return {last, window_end}

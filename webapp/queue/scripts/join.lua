-- Issue ARGV[1] consecutive positions. KEYS[1]=counter KEYS[2]=window hash KEYS[3]=controls hash;
-- KEYS[4]=draw hash; ARGV[1]=count (>= 1)
-- ARGV[2]=highest position the caller has seen ARGV[3]=highest window_end the caller has seen.
-- Returns {last position issued, window_end, epoch, prequeue}, or {-1, 0, 0, 0} when the queue is not seeded: a join never
-- increments a counter that lost its value (the caller seeds it from what it has seen, then retries).
-- The seen values are floors (max-merge): if a replica that saw less re-seeded Redis after a data
-- loss, this caller still never issues a position it has already seen issued.
-- prequeue is 1 while a scheduled sale's draw is not made yet: the numbers issued are then arrival indexes,
-- and the draw (slide.lua) freezes N = the counter in one step, so every join is on one side of the opening.
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[2], 'window_end') == 0 then
  return {-1, 0, 0, 0}
end
local floor = tonumber(ARGV[2])
if tonumber(redis.call('GET', KEYS[1])) < floor then
  redis.call('SET', KEYS[1], floor)
end
local window_end = tonumber(redis.call('HGET', KEYS[2], 'window_end'))
if window_end < tonumber(ARGV[3]) then
  window_end = tonumber(ARGV[3])
  redis.call('HSET', KEYS[2], 'window_end', window_end)
end
local last = redis.call('INCRBY', KEYS[1], ARGV[1])
local d = redis.call('HMGET', KEYS[4], 'seed', 'size')
local prequeue = 0
if d[1] and not d[2] then
  prequeue = 1
end
return {last, window_end, tonumber(redis.call('HGET', KEYS[3], 'epoch') or '0'), prequeue}

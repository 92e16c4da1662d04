-- Issue ARGV[1] consecutive positions. KEYS[1]=counter KEYS[2]=window hash; ARGV[1]=count (>= 1).
-- Returns {last position issued, window_end}, or {-1, 0} when the queue is not seeded: a join never
-- increments a counter that lost its value (the caller seeds it from what it has seen, then retries).
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[2], 'window_end') == 0 then
  return {-1, 0}
end
local last = redis.call('INCRBY', KEYS[1], ARGV[1])
return {last, tonumber(redis.call('HGET', KEYS[2], 'window_end'))}

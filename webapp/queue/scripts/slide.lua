-- Slide the window once if it is due, judged by Redis TIME rather than any replica's clock.
-- KEYS[1]=counter KEYS[2]=window hash KEYS[3]=leader lease
-- ARGV[1]=instance id that must hold the lease (the fence: a leader paused past its lease cannot slide)
-- ARGV[2]=window size ARGV[3]=interval in ms.
-- Returns {outcome, window_end, next due (ms), Redis now (ms)}; outcome 1 = slid, 0 = skipped because
-- nobody waits, -1 = not due yet, -2 = caller does not hold the lease, -3 = queue not seeded.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return {-2, 0, 0, now}
end
local window_end = tonumber(redis.call('HGET', KEYS[2], 'window_end'))
if not window_end then
  return {-3, 0, 0, now}
end
local due = tonumber(redis.call('HGET', KEYS[2], 'next_due'))
if due and now < due then
  return {-1, window_end, due, now}
end
local interval = tonumber(ARGV[3])
local outcome = 0
if tonumber(redis.call('GET', KEYS[1]) or '0') > window_end then
  window_end = window_end + tonumber(ARGV[2])
  outcome = 1
  redis.call('HSET', KEYS[2], 'window_end', window_end, 'last_slide', now)
  redis.call('HINCRBY', KEYS[2], 'slides', 1)
end
-- Keep the schedule's cadence (no drift, so estimated waits stay honest) when this slide is less than
-- half an interval late; when it is later (a leader handover, a stalled replica) restart the schedule
-- from now, so two slides are never less than half an interval apart and a backlog is never caught
-- up in a burst.
local next_due = (due or now) + interval
if (now - (due or now)) * 2 > interval then
  next_due = now + interval
end
redis.call('HSET', KEYS[2], 'next_due', next_due)
return {outcome, window_end, next_due, now}

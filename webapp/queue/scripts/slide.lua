-- Slide the window once if it is due, judged by Redis TIME rather than any replica's clock.
-- KEYS[1]=counter KEYS[2]=window hash KEYS[3]=leader lease KEYS[4]=controls hash KEYS[5]=event stream
-- KEYS[6]=per-minute statistics hash KEYS[7]=draw hash
-- ARGV[1]=instance id that must hold the lease (the fence: a leader paused past its lease cannot slide)
-- ARGV[2]=window size ARGV[3]=interval in ms: used only when the controls hold no pace.
-- ARGV[4]='' for the leader's scheduled slide; for the operator's "slide now", the window_end the
-- operator's replica saw: the slide happens now, without the lease, only if the window still ends
-- there (so a repeated or concurrent request slides once), and restarts the schedule.
-- ARGV[5]=how many events the stream keeps (approximately).
-- Returns {outcome, window_end, next due (ms), Redis now (ms)}; outcome 1 = slid, 0 = skipped because
-- nobody waits, -1 = not due yet, -2 = caller does not hold the lease, -3 = queue not seeded,
-- -4 = admission is paused (nothing changes; the caller comes back within an interval),
-- -5 = an operator's slide found the window already moved (nothing changes),
-- -6 = a scheduled sale is not open yet (next due = the opening time; nothing changes).
-- The opening is the leader's first slide at or after the draw's opens_at (Redis' clock): in this one step
-- it freezes N = the counter (every later join is a position above N, see join.lua), records the
-- opening instant, logs it, and slides the first window in at once.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local forced = ARGV[4] ~= ''
if not forced and redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return {-2, 0, 0, now}
end
local window_end = tonumber(redis.call('HGET', KEYS[2], 'window_end'))
if not window_end then
  return {-3, 0, 0, now}
end
local draw = redis.call('HMGET', KEYS[7], 'seed', 'opens_at', 'size')
local opening = false
if draw[1] and not draw[3] then
  local opens = tonumber(draw[2])
  if forced or now < opens then
    return {-6, window_end, math.max(now, opens), now}
  end
  local n = tonumber(redis.call('GET', KEYS[1]) or '0')
  redis.call('HSET', KEYS[7], 'size', n, 'opened_at', now)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'kind', 'opened', 'detail',
    'the sale opened: ' .. n .. ' in the pre-queue, drawn with seed ' .. draw[1], 'who', ARGV[1])
  opening = true
end
if forced and window_end ~= tonumber(ARGV[4]) then
  return {-5, window_end, 0, now}
end
local c = redis.call('HMGET', KEYS[4], 'window_size', 'interval_ms', 'paused')
local size = tonumber(c[1] or ARGV[2])
local interval = tonumber(c[2] or ARGV[3])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
-- People waiting, sampled once a minute for the console's chart; the hash lives two hours past its last write.
local minute = math.floor(now / 60000)
redis.call('HSET', KEYS[6], 'w:' .. minute, math.max(0, last - window_end))
redis.call('PEXPIRE', KEYS[6], 7200000)
if c[3] == '1' then
  return {-4, window_end, now + interval, now}
end
local due = tonumber(redis.call('HGET', KEYS[2], 'next_due'))
if due and now < due and not forced and not opening then
  return {-1, window_end, due, now}
end
local outcome = 0
if last > window_end then
  window_end = window_end + size
  outcome = 1
  redis.call('HSET', KEYS[2], 'window_end', window_end, 'last_slide', now, 'skipping', 0)
  redis.call('HINCRBY', KEYS[2], 'slides', 1)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'kind', 'slid', 'detail',
    'window_end ' .. window_end .. ', size ' .. size .. (forced and ', by the operator' or ''), 'who', ARGV[1])
elseif redis.call('HGET', KEYS[2], 'skipping') ~= '1' then
  -- Only the first skip of a quiet spell is an event: an idle queue must not flood the log.
  redis.call('HSET', KEYS[2], 'skipping', 1)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'kind', 'skipped', 'detail',
    'nobody waits beyond ' .. window_end, 'who', ARGV[1])
end
-- Keep the schedule's cadence (no drift, so estimated waits stay honest) when this slide is less than
-- half an interval late; when it is later (a leader handover, a stalled replica) restart the schedule
-- from now, so two slides are never less than half an interval apart and a backlog is never caught
-- up in a burst. A forced slide restarts the schedule too.
local next_due = (due or now) + interval
if forced or opening or (now - (due or now)) * 2 > interval then
  next_due = now + interval
end
redis.call('HSET', KEYS[2], 'next_due', next_due)
return {outcome, window_end, next_due, now}

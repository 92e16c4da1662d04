-- Apply one operator control and log it, in one atomic step.
-- KEYS[1]=controls hash KEYS[2]=window hash KEYS[3]=event stream KEYS[4]=counter KEYS[5]=draw hash
-- ARGV[1]=action: pause | resume | pace | message | reset; ARGV[2]=who (token or session id)
-- ARGV[3]=client address ARGV[4]=how many events the stream keeps (approximately) ARGV[5]=detail for the log
-- pace: ARGV[6]=window_size ARGV[7]=interval (ms) ARGV[8]=active_window_count; message: ARGV[6]=text ('' clears)
-- Returns {epoch, window_end} after the change, or {-1, -1} when the queue is not seeded (controls untouched).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window_end = tonumber(redis.call('HGET', KEYS[2], 'window_end'))
if not window_end or redis.call('HEXISTS', KEYS[1], 'interval_ms') == 0 then
  return {-1, -1}
end
local action = ARGV[1]
local interval = tonumber(redis.call('HGET', KEYS[1], 'interval_ms'))
if action == 'pause' then
  redis.call('HSET', KEYS[1], 'paused', 1)
elseif action == 'resume' then
  -- The first slide after a pause comes one full interval later, as the estimates then say.
  redis.call('HSET', KEYS[1], 'paused', 0)
  redis.call('HSET', KEYS[2], 'next_due', now + interval)
elseif action == 'pace' then
  interval = tonumber(ARGV[7])
  redis.call('HSET', KEYS[1], 'window_size', ARGV[6], 'interval_ms', interval, 'active_window_count', ARGV[8])
  -- A shorter interval takes effect at once; a longer one after the slide already scheduled.
  local due = tonumber(redis.call('HGET', KEYS[2], 'next_due') or now)
  if due > now + interval then
    redis.call('HSET', KEYS[2], 'next_due', now + interval)
  end
elseif action == 'message' then
  redis.call('HSET', KEYS[1], 'message', ARGV[6])
elseif action == 'reset' then
  -- A new epoch: tickets of earlier epochs are refused. Positions keep counting up (none is ever issued
  -- twice, even across a reset), and the new window starts just after the last one issued.
  redis.call('HINCRBY', KEYS[1], 'epoch', 1)
  local last = tonumber(redis.call('GET', KEYS[4]) or '0')
  local d = redis.call('HMGET', KEYS[5], 'seed', 'size')
  if d[1] and not d[2] then
    -- During a scheduled sale's pre-queue the draw stays as committed and the window stays shut: the
    -- opening lets the first window in; arrival indexes taken before the reset pass unused in the draw.
    redis.call('HSET', KEYS[2], 'skipping', 0)
  else
    window_end = last + tonumber(redis.call('HGET', KEYS[1], 'window_size'))
    redis.call('HSET', KEYS[2], 'window_end', window_end, 'next_due', now + interval, 'skipping', 0)
  end
else
  return redis.error_reply('unknown control ' .. action)
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'kind', action, 'detail', ARGV[5], 'who', ARGV[2], 'addr', ARGV[3])
return {tonumber(redis.call('HGET', KEYS[1], 'epoch')), window_end}

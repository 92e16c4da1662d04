-- Create or repair a queue by max-merge: values only ever grow, so a replica re-seeding after Redis
-- lost its data can never hand out a position twice or move the window backwards.
-- KEYS[1]=counter KEYS[2]=window hash KEYS[3]=controls hash
-- ARGV[1]=last position seen ARGV[2]=window_end seen (0 when none)
-- ARGV[3..8]=controls to store where Redis has none: window_size, interval (ms), active_window_count,
-- paused (0/1), epoch, message. Controls already stored are kept (HSETNX), except that the epoch never
-- goes back below ARGV[7]. A new queue's window_end is its stored window_size (0 while a draw is pending).
-- KEYS[4]=draw hash; ARGV[9]=draw seed in hex ('' for none) ARGV[10]=opens at (ms) ARGV[11]=drawn at (ms)
-- ARGV[12]=1 when the caller saw this seed in Redis (a repair), 0 for a fresh one it proposes
-- ARGV[13]=size N it saw (-1: not opened) ARGV[14]=opened at (ms) it saw.
-- A fresh seed is stored only with a brand-new queue (nothing in Redis, the caller saw nothing): a draw is
-- never created for a queue that already issued places, nor redrawn after a loss by a replica that knew
-- the old one. A seen seed is written back when Redis lost it, and wins over a different stored seed
-- drawn later (the earliest draw is the one whose commitment was published first).
-- Returns {last position, window_end}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local new_queue = redis.call('EXISTS', KEYS[1]) == 0 and redis.call('HEXISTS', KEYS[2], 'window_end') == 0
  and tonumber(ARGV[1]) == 0 and tonumber(ARGV[2]) == 0
if ARGV[9] ~= '' then
  local stored = redis.call('HMGET', KEYS[4], 'seed', 'drawn_at')
  if ARGV[12] == '1' then
    if not stored[1] or (stored[1] ~= ARGV[9] and tonumber(ARGV[11]) < tonumber(stored[2])) then
      redis.call('DEL', KEYS[4])
      redis.call('HSET', KEYS[4], 'seed', ARGV[9], 'opens_at', ARGV[10], 'drawn_at', ARGV[11])
    end
    if tonumber(ARGV[13]) >= 0 and redis.call('HGET', KEYS[4], 'seed') == ARGV[9]
      and redis.call('HEXISTS', KEYS[4], 'size') == 0 then
      redis.call('HSET', KEYS[4], 'size', ARGV[13], 'opened_at', ARGV[14])
    end
  elseif not stored[1] and new_queue then
    redis.call('HSET', KEYS[4], 'seed', ARGV[9], 'opens_at', ARGV[10], 'drawn_at', now)
  end
end
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
local first_end = size
if redis.call('HEXISTS', KEYS[4], 'seed') == 1 and redis.call('HEXISTS', KEYS[4], 'size') == 0 then
  first_end = 0  -- nobody is let in before the draw; the opening makes the first slide
end
local window_end = math.max(tonumber(redis.call('HGET', KEYS[2], 'window_end') or first_end), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], last)
redis.call('HSET', KEYS[2], 'window_end', window_end)
if redis.call('HEXISTS', KEYS[2], 'next_due') == 0 then
  redis.call('HSET', KEYS[2], 'next_due', now + interval)
end
return {last, window_end}

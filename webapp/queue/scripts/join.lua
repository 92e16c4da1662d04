-- Issue positions to one batch of joins, in arrival order; with the join limit on, only to the joins whose
-- client is within it. KEYS[1]=counter KEYS[2]=window hash KEYS[3]=controls hash KEYS[4]=draw hash;
-- KEYS[5..]=the join log (sorted set: position -> ms) of each distinct client of the batch, none without a limit.
-- ARGV[1]=count of joins (>= 1) ARGV[2]=highest position the caller has seen ARGV[3]=highest window_end the caller has seen;
-- ARGV[4]=new places a client may take per window (0 = no limit) ARGV[5]=the window in ms ARGV[6]=now in ms ('' = Redis TIME);
-- ARGV[7..6+count]=with a limit, the client of each join in arrival order, as its index among KEYS[5..] (1 = KEYS[5]).
-- Returns {last position issued, window_end, epoch, prequeue, wait_1 .. wait_count}: wait_i is 0 for a join given a
-- place, else the ms (1..window) until its client may take a new one; the joins given a place hold the
-- positions up to last, contiguous, in arrival order (no waits without a limit: every join gets a place).
-- Returns {-1, 0, 0, 0} when the queue is not seeded: a join never increments a counter that lost its value
-- and counts nobody (the caller seeds it from what it has seen, then retries).
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

local count = tonumber(ARGV[1])
local limit = tonumber(ARGV[4])
local placed = count
local waits = {}
local span, now, used
if limit > 0 then
  span = tonumber(ARGV[5])
  if ARGV[6] == '' then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  else
    now = tonumber(ARGV[6])
  end
  used = {}
  for k = 5, #KEYS do
    -- The log keeps the places taken in the last window, at most `limit` of them (fewer if the limit was lowered).
    redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now - span)
    local n = redis.call('ZCARD', KEYS[k])
    if n > limit then
      redis.call('ZREMRANGEBYRANK', KEYS[k], 0, n - limit - 1)
      n = limit
    end
    used[k] = n
  end
  placed = 0
  for i = 1, count do
    local k = 4 + tonumber(ARGV[6 + i])
    if used[k] < limit then
      used[k] = used[k] + 1
      placed = placed + 1
      waits[i] = 0
    else
      waits[i] = -1
    end
  end
end

local last
if placed > 0 then
  last = redis.call('INCRBY', KEYS[1], placed)
else
  last = tonumber(redis.call('GET', KEYS[1]))
end
local d = redis.call('HMGET', KEYS[4], 'seed', 'size')
local prequeue = 0
if d[1] and not d[2] then
  prequeue = 1
end
local reply = {last, window_end, tonumber(redis.call('HGET', KEYS[3], 'epoch') or '0'), prequeue}
if limit == 0 then
  return reply
end

-- Log each place where its client's log is (positions are never issued twice, so they are unique members).
local added = {}
local position = last - placed
for i = 1, count do
  if waits[i] == 0 then
    local k = 4 + tonumber(ARGV[6 + i])
    position = position + 1
    local entries = added[k]
    if entries == nil then
      entries = {}
      added[k] = entries
    end
    entries[#entries + 1] = now
    entries[#entries + 1] = position
  end
end
for k, entries in pairs(added) do
  redis.call('ZADD', KEYS[k], unpack(entries))
  redis.call('PEXPIRE', KEYS[k], span)
end
-- A refused client may take a new place once the oldest place of its full log leaves the window.
local wait_of = {}
for i = 1, count do
  local wait = 0
  if waits[i] ~= 0 then
    local k = 4 + tonumber(ARGV[6 + i])
    wait = wait_of[k]
    if wait == nil then
      local oldest = redis.call('ZRANGE', KEYS[k], 0, 0, 'WITHSCORES')
      wait = math.max(1, tonumber(oldest[2]) + span - now)
      wait_of[k] = wait
    end
  end
  reply[4 + i] = wait
end
return reply

-- Read the window and the operator's controls in one consistent step.
-- KEYS[1]=counter KEYS[2]=window hash KEYS[3]=controls hash KEYS[4]=draw hash.
-- Returns {window_end, last position, next slide due (ms), Redis now (ms), last slide (ms), slides,
-- window_size, interval (ms), active_window_count, paused (0/1), epoch, message,
-- draw seed (hex, '' without a draw), opens at (ms), drawn at (ms), size N, opened at (ms)};
-- -1 stands for a missing value (window_end -1: the queue is not seeded; window_size -1: no controls).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = redis.call('HMGET', KEYS[2], 'window_end', 'next_due', 'last_slide', 'slides')
local c = redis.call('HMGET', KEYS[3], 'window_size', 'interval_ms', 'active_window_count', 'paused', 'epoch', 'message')
local d = redis.call('HMGET', KEYS[4], 'seed', 'opens_at', 'drawn_at', 'size', 'opened_at')
local function int(v) if v then return tonumber(v) end return -1 end
return {int(w[1]), int(redis.call('GET', KEYS[1])), int(w[2]), now, int(w[3]), int(w[4]),
  int(c[1]), int(c[2]), int(c[3]), int(c[4]), int(c[5]), c[6] or '',
  d[1] or '', int(d[2]), int(d[3]), int(d[4]), int(d[5])}

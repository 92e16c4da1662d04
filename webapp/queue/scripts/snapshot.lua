-- Read the window in one consistent step. KEYS[1]=counter KEYS[2]=window hash.
-- Returns {window_end, last position, next slide due (ms), Redis now (ms), last slide (ms), slides};
-- -1 stands for a missing value (window_end -1: the queue is not seeded).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = redis.call('HMGET', KEYS[2], 'window_end', 'next_due', 'last_slide', 'slides')
local function int(v) if v then return tonumber(v) end return -1 end
return {int(w[1]), int(redis.call('GET', KEYS[1])), int(w[2]), now, int(w[3]), int(w[4])}

-- A replica's periodic report: it is alive, and how many people joined through it since the last one.
-- KEYS[1]=replicas sorted set (score = Redis time in ms) KEYS[2]=event stream
-- ARGV[1]=instance id ARGV[2]=joins since the last report ARGV[3]=seconds covered ARGV[4]=events kept (~)
-- Returns Redis now (ms). Replicas silent for an hour are forgotten.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)
local joins = tonumber(ARGV[2])
if joins > 0 then
  local rate = joins / tonumber(ARGV[3])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'kind', 'joins', 'detail',
    joins .. ' joined in ' .. ARGV[3] .. ' s (' .. string.format('%.1f', rate) .. '/s)', 'who', ARGV[1])
end
return now

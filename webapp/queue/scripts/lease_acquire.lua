-- Take or keep the leader lease. KEYS[1]=lease; ARGV[1]=instance id ARGV[2]=TTL in ms.
-- Returns 1 when ARGV[1] holds the lease afterwards (renewed if it already did), else 0. Renewal
-- compares the holder in the same step, so a node whose lease lapsed cannot extend another's.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1

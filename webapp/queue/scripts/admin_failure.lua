-- Count a failed admin credential from one client address; the count lives ARGV[1] ms after the first failure.
-- KEYS[1]=the address's failure counter. Returns {failures so far, ms until the counter expires}.
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {failures, redis.call('PTTL', KEYS[1])}

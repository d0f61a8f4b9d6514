#!lua
-- Leases (shard ownership, the reconcile and rebuild locks): a holder renews or
-- releases only a lease it still holds, so a holder that stalled past its expiry
-- can never take back what another process acquired meanwhile.
-- KEYS: 1 the lease key
-- ARGV: 1 op (renew|release), 2 holder, 3 ttl (ms, for renew)
-- Returns 1 when done, 0 when the caller no longer holds the lease.
if redis.call('GET', KEYS[1]) ~= ARGV[2] then
  return 0
end
if ARGV[1] == 'renew' then
  return redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return redis.call('DEL', KEYS[1])

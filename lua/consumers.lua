-- Deletes the consumers of a stream's group that hold no pending entry, except the caller.
-- Each worker is a consumer under its own id, and a worker that stopped (every restart,
-- every deploy) would stay in the group forever. Only the holder of the stream's lease
-- reads it, after taking over what earlier holders left pending, so whoever else is in the
-- group is gone or will be re-created by its next XREADGROUP. Atomic, so no entry can
-- become pending for a consumer between the check and the delete (DELCONSUMER drops them).
-- KEYS: 1 the stream
-- ARGV: 1 the group, 2 the caller's consumer name
-- Returns how many consumers were deleted.
local deleted = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending
  for i = 1, #consumer, 2 do
    if consumer[i] == 'name' then name = consumer[i + 1] elseif consumer[i] == 'pending' then pending = consumer[i + 1] end
  end
  if name ~= ARGV[2] and pending == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    deleted = deleted + 1
  end
end
return deleted

-- Deletes the consumers of a stream's group that hold no pending entry and have been idle
-- for a while, except the caller. Each worker is a consumer under its own id, and a
-- worker that stopped (every restart, every deploy) would stay in the group forever.
-- Where only the holder of the stream's lease reads, after taking over what earlier
-- holders left pending, whoever else is in the group is gone (idle 0 will do); where
-- several read at once (the mailers), a live one reads every few seconds, so an hour idle
-- means gone. Atomic, so no entry can become pending for a consumer between the check and
-- the delete (DELCONSUMER drops them); one deleted while alive is re-created by its next read.
-- KEYS: 1 the stream
-- ARGV: 1 the group, 2 the caller's consumer name, 3 the least idle time (ms) of one deleted
-- Returns how many consumers were deleted.
local deleted = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local fields = {}
  for i = 1, #consumer, 2 do fields[consumer[i]] = consumer[i + 1] end
  local name = fields['name']
  if name ~= ARGV[2] and fields['pending'] == 0 and fields['idle'] >= tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    deleted = deleted + 1
  end
end
return deleted

-- Request outcomes, for lua/commit.lua and lua/cart.lua (sent in front of both, see
-- LuaSource): both must remember and find a request id the same way.
--
-- The hash `meta .. ":requests"` holds the outcomes of a cart's last `keep` request ids:
-- "r:" .. requestId -> bucket ("0" or "1") .. its number .. "\t" .. "ok" or
-- "err\tCODE\tmessage", and qn how many ids were ever remembered (the next one's number).

-- An id's bucket is "0" or "1" as floor(number / keep) is even or odd: before a bucket
-- takes new ids, those it held (all older than the last keep) are dropped at once, so a
-- command looks up one field, reads no ring slot and deletes nothing most of the time.
local function outcomeBucket(number, keep)
  return number % (2 * keep) < keep and '0' or '1'
end

-- The next id's number (nil: none remembered yet) and the outcome of requestId: its text,
-- false if it is older than the last keep ids, nil if it was never remembered.
local function outcomeOf(requestsKey, keep, requestId)
  local requests = redis.call('HMGET', requestsKey, 'qn', 'r:' .. requestId)
  local n, prior = tonumber(requests[1]), requests[2]
  if prior then
    local number, outcome = string.match(prior, '^%d(%d+)\t(.*)$')
    prior = tonumber(number) >= n - keep and outcome
  end
  return n, prior
end

-- Remembers requestId's outcome as number n. Small writes: each is also appended to the AOF.
local function rememberOutcome(requestsKey, keep, n, requestId, outcome)
  local bucket = outcomeBucket(n, keep)
  if n % keep == 0 and n >= keep then
    local fields, old = redis.call('HGETALL', requestsKey), {}
    for i = 1, #fields, 2 do
      if string.sub(fields[i], 1, 2) == 'r:' and string.sub(fields[i + 1], 1, 1) == bucket then old[#old + 1] = fields[i] end
    end
    if #old > 0 then redis.call('HDEL', requestsKey, unpack(old)) end
  end
  redis.call('HSET', requestsKey, 'r:' .. requestId, bucket .. n .. '\t' .. outcome, 'qn', n + 1)
end

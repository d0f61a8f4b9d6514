#!lua
-- Stock counters, reservations and the delayed-job schedule of orders, all in the
-- {stock} slot, so a reservation of several books is one atomic step. Checks come
-- before the first write (Redis has no rollback).
--
-- KEYS: 1 available hash (bookId -> units), 2 reservation index (set of order ids),
--       3 delayed jobs (sorted set, member "expire:<orderId>", score due ms),
--       4 meta hash (g: generation the stock was built for, adj: highest adjustment id
--         applied), 5 the reservation key prefix (KEYS[5] .. orderId is a hash
--         bookId -> quantity, plus @user, @due, @at; derived, not declared, like the
--         cart script's book indexes: same tag, same slot), 6 the due-jobs stream
-- ARGV: 1 op, 2 the Redis generation the caller serves ("" = do not check), then per op:
--   reserve   3 orderId, 4 userId, 5 due ms, 6 now ms, then pairs bookId, quantity
--             -> {"ok"} | {"exists"} (this order already holds one: nothing written)
--                | {"short", bookId, available} (nothing written)
--   release   3 orderId -> {"released", units} | {"absent"}   returns the units, once
--   commit    3 orderId -> {"committed", units} | {"absent"}  drops them (paid: they left stock)
--   adjust    then triples adjustmentId, bookId, delta (ascending ids)
--             -> {"ok", cursor}: ids at or below the cursor are skipped, so replays are harmless
--   due       3 now ms, 4 most jobs -> {"ok", moved}: due jobs move to the stream (XADD
--             job expire, order <id>) and leave the schedule, in one step
--   snapshot  -> {"ok", generation, cursor, {bookId, available, ...}, {bookId, reserved, ...}}
--   correct   3 bookId, 4 expected available, 5 delta -> {"ok"} | {"moved"} (the counter
--             changed meanwhile: nothing written)
--   rebuild   3 adjustment cursor, 4 number of books N, N pairs bookId, available, then per
--             order: orderId, userId, due ms, line count L, L pairs bookId, quantity
--             -> {"ok"}: everything replaced, stamped with the generation
-- Every op but rebuild and due answers {"unbuilt"} when the stock was not built for
-- this generation (Redis lost its data): order commands wait for the rebuild.

local op, generation = ARGV[1], ARGV[2]
local prefix = KEYS[5]

if op == 'rebuild' then
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('DEL', prefix .. id) end
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  local n = tonumber(ARGV[4])
  local i = 5
  for _ = 1, n do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  while i <= #ARGV do
    local orderId, userId, due, lines = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
    i = i + 4
    local key = prefix .. orderId
    redis.call('HSET', key, '@user', userId, '@due', due, '@at', due)
    for _ = 1, lines do
      redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1])
      i = i + 2
    end
    redis.call('SADD', KEYS[2], orderId)
    redis.call('ZADD', KEYS[3], due, 'expire:' .. orderId)
  end
  redis.call('HSET', KEYS[4], 'g', generation, 'adj', ARGV[3])
  return {'ok'}
end

if op == 'due' then
  local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
  for _, member in ipairs(due) do
    local kind, orderId = string.match(member, '^(%a+):(.*)$')
    redis.call('XADD', KEYS[6], '*', 'job', kind, 'order', orderId)
    redis.call('ZREM', KEYS[3], member)
  end
  return {'ok', #due}
end

local built = redis.call('HGET', KEYS[4], 'g')
if not built or (generation ~= '' and built ~= generation) then return {'unbuilt'} end

-- The books and quantities a reservation holds (fields without the @ of its metadata).
local function linesOf(key)
  local flat, lines = redis.call('HGETALL', key), {}
  for i = 1, #flat, 2 do
    if string.sub(flat[i], 1, 1) ~= '@' then lines[#lines + 1] = {flat[i], tonumber(flat[i + 1])} end
  end
  return lines
end

-- Drops a reservation and its expiry job; with giveBack its units return to available.
local function drop(orderId, giveBack)
  local key = prefix .. orderId
  local lines = linesOf(key)
  if #lines == 0 and redis.call('EXISTS', key) == 0 then return {'absent'} end
  local units = 0
  for _, line in ipairs(lines) do
    if giveBack then redis.call('HINCRBY', KEYS[1], line[1], line[2]) end
    units = units + line[2]
  end
  redis.call('DEL', key)
  redis.call('SREM', KEYS[2], orderId)
  redis.call('ZREM', KEYS[3], 'expire:' .. orderId)
  return {giveBack and 'released' or 'committed', units}
end

if op == 'reserve' then
  local orderId = ARGV[3]
  local key = prefix .. orderId
  if redis.call('EXISTS', key) == 1 then return {'exists'} end
  for i = 7, #ARGV, 2 do
    local available = tonumber(redis.call('HGET', KEYS[1], ARGV[i])) or 0
    if tonumber(ARGV[i + 1]) > available then return {'short', ARGV[i], available} end
  end
  for i = 7, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[1], ARGV[i], -tonumber(ARGV[i + 1]))
    redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  end
  redis.call('HSET', key, '@user', ARGV[4], '@due', ARGV[5], '@at', ARGV[6])
  redis.call('SADD', KEYS[2], orderId)
  redis.call('ZADD', KEYS[3], ARGV[5], 'expire:' .. orderId)
  return {'ok'}
elseif op == 'release' then
  return drop(ARGV[3], true)
elseif op == 'commit' then
  return drop(ARGV[3], false)
elseif op == 'adjust' then
  local cursor = tonumber(redis.call('HGET', KEYS[4], 'adj')) or 0
  for i = 3, #ARGV, 3 do
    local id = tonumber(ARGV[i])
    if id > cursor then
      redis.call('HINCRBY', KEYS[1], ARGV[i + 1], ARGV[i + 2])
      cursor = id
    end
  end
  redis.call('HSET', KEYS[4], 'adj', cursor)
  return {'ok', cursor}
elseif op == 'snapshot' then
  local reserved, sums = {}, {}
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    for _, line in ipairs(linesOf(prefix .. id)) do sums[line[1]] = (sums[line[1]] or 0) + line[2] end
  end
  for book, units in pairs(sums) do
    reserved[#reserved + 1] = book
    reserved[#reserved + 1] = units
  end
  return {'ok', built, redis.call('HGET', KEYS[4], 'adj') or '0', redis.call('HGETALL', KEYS[1]), reserved}
elseif op == 'correct' then
  local now = tonumber(redis.call('HGET', KEYS[1], ARGV[3])) or 0
  if now ~= tonumber(ARGV[4]) then return {'moved'} end
  redis.call('HINCRBY', KEYS[1], ARGV[3], ARGV[5])
  return {'ok'}
end
return redis.error_reply('unknown op ' .. tostring(op))

-- Every cart command of one user as one atomic step. Checks come before the first
-- write (Redis has no rollback); a change bumps the version by exactly one, publishes
-- the new cart on the user's room and appends its persistence job to the shard outbox.
-- Loaded after lua/cartlib.lua (encodeLine, snapshotOf, publishUpdate, appendJob).
--
-- KEYS: 1 meta hash, 2 lines hash, 3 request outcomes hash, 4 request id log, 5 outbox stream,
--       6 the shard's generation hash (g: generation number, the epoch of carts created or
--       restored now; loaded: present when no cart needs restoring from Postgres),
--       7 the shard's cart index (set of user ids),
--       8 the shard's catalog revisions (hash bookId -> newest revision the catalog walk
--         took into this shard),
--       9 the prefix of the shard's book indexes: KEYS[9] .. bookId is the set of user ids
--         whose cart holds that book. Those keys are derived here, not declared: a command
--         may touch several (clear, rehydrate). They carry the same {s:N} tag as every
--         other key, so they live in the same slot; non-cluster Redis does not check
--         declarations, and Redis Cluster routes by slot, which they share.
-- ARGV: 1 op (get|add|set|remove|clear|rehydrate), 2 userId, 3 requestId, 4 connectionId
--       ("" = none), 5 via, 6 now (ms), 7 now (ISO 8601), 8 room channel, 9 max lines,
--       10 max quantity, 11 request ids remembered, 12 bookId, 13 quantity, 14 title,
--       15 unit price (cents), 16 stock, 17 the book's catalog revision the hub priced with
--       rehydrate: 12 version, 13 total (cents), 14 updatedAt (ISO or ""), then 5 per
--       line: bookId, quantity, unit price, title, stock ("" = unknown)
--       (CartScriptCall in CartDomain lays these out.)
-- Returns {status, cart JSON, error code, error message}; status is "ok", "err",
-- "dup" (a repeated requestId: code "" means it had succeeded), "stale" (add/set priced
-- from an older catalog revision than the walk already took into this shard: nothing
-- written; the caller reloads the book and retries), or "missing": the cart is not in
-- Redis and may be in Postgres (the shard is not marked loaded), so the caller must
-- rehydrate it first; or, before the shard has a generation, retry later.
-- A line carries "available":stock exactly when its quantity exceeds the stock the
-- command saw (setQuantity may lower a line to a value still above the stock).

local op, userId, requestId = ARGV[1], ARGV[2], ARGV[3]

local meta = redis.call('HMGET', KEYS[1], 'v', 'e', 't', 'n', 'u')
local version = tonumber(meta[1]) or 0
local epoch = tonumber(meta[2])
local total = tonumber(meta[3]) or 0
local count = tonumber(meta[4]) or 0
local updatedAt = meta[5] or 'null'

local function snapshot()
  return snapshotOf(KEYS[2], userId, epoch, version, total, count, updatedAt)
end

if not meta[1] then
  local generation = redis.call('HMGET', KEYS[6], 'g', 'loaded')
  epoch = tonumber(generation[1])
  if not epoch or (op ~= 'rehydrate' and not generation[2]) then
    return {'missing', '', '', ''}
  end
  if op == 'rehydrate' then
    -- First access after a loss: load the Postgres copy under the new epoch, once.
    version, total = tonumber(ARGV[12]), tonumber(ARGV[13])
    updatedAt = ARGV[14] == '' and 'null' or cjson.encode(ARGV[14])
    count = 0
    for i = 15, #ARGV, 5 do
      local quantity, price = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
      redis.call('HSET', KEYS[2], ARGV[i], encodeLine(ARGV[i], ARGV[i + 3], price, quantity, tonumber(ARGV[i + 4])))
      redis.call('SADD', KEYS[9] .. ARGV[i], userId)
      count = count + quantity
    end
    redis.call('HSET', KEYS[1], 'v', version, 'e', epoch, 't', total, 'n', count, 'u', updatedAt)
    redis.call('SADD', KEYS[7], userId)
    return {'ok', snapshot(), '', ''}
  end
end

if op == 'get' or op == 'rehydrate' then
  return {'ok', snapshot(), '', ''}
end

local prior = redis.call('HGET', KEYS[3], requestId)
if prior then
  local code, message = string.match(prior, '^err\t([^\t]*)\t(.*)$')
  return {'dup', snapshot(), code or '', message or ''}
end

local bookId = ARGV[12]
if op == 'add' or op == 'set' then
  -- A hub whose catalog cache is older than the walk must not write the old price or title.
  local walked = redis.call('HGET', KEYS[8], bookId)
  if walked and tonumber(walked) > tonumber(ARGV[17]) then
    return {'stale', '', '', ''}
  end
end

local function remember(outcome)
  redis.call('HSET', KEYS[3], requestId, outcome)
  redis.call('LPUSH', KEYS[4], requestId)
  local keep = tonumber(ARGV[11])
  while redis.call('LLEN', KEYS[4]) > keep do
    redis.call('HDEL', KEYS[3], redis.call('RPOP', KEYS[4]))
  end
end

local function fail(code, message)
  remember('err\t' .. code .. '\t' .. message)
  return {'err', snapshot(), code, message}
end

local oldQuantity, oldLineTotal = 0, 0
if bookId ~= '' then
  local line = redis.call('HGET', KEYS[2], bookId)
  if line then
    oldQuantity = tonumber(string.match(line, '"quantity":(%d+)'))
    oldLineTotal = tonumber(string.match(line, '"lineTotalCents":(%d+)'))
  end
end

local newQuantity
if op == 'add' then
  newQuantity = oldQuantity + tonumber(ARGV[13])
elseif op == 'set' then
  newQuantity = tonumber(ARGV[13])
elseif op == 'remove' then
  newQuantity = 0
end

-- Checks: nothing has been written yet.
local stock = tonumber(ARGV[16])
if op == 'set' or op == 'remove' then
  if oldQuantity == 0 then return fail('NOT_IN_CART', bookId .. ' is not in the cart') end
elseif op == 'add' then
  local maxQuantity = tonumber(ARGV[10])
  if newQuantity > maxQuantity then
    return fail('QUANTITY_LIMIT', 'at most ' .. maxQuantity .. ' of one book per cart')
  end
  if oldQuantity == 0 and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[9]) then
    return fail('CART_LIMIT', 'a cart holds at most ' .. ARGV[9] .. ' different books')
  end
elseif op ~= 'clear' then
  return redis.error_reply('unknown op ' .. op)
end
if newQuantity and newQuantity > oldQuantity and newQuantity > stock then
  return fail('INSUFFICIENT_STOCK', 'only ' .. ARGV[16] .. ' of ' .. bookId .. ' in stock')
end

-- Apply. The book index changes only when a line appears or goes.
local price, title = tonumber(ARGV[15]), ARGV[14]
local job = {'u', userId, 'op', op}
if op == 'clear' then
  local books = redis.call('HKEYS', KEYS[2])
  for i = 1, #books do redis.call('SREM', KEYS[9] .. books[i], userId) end
  redis.call('DEL', KEYS[2])
  total, count = 0, 0
elseif newQuantity == 0 then
  redis.call('HDEL', KEYS[2], bookId)
  redis.call('SREM', KEYS[9] .. bookId, userId)
  total = total - oldLineTotal
  count = count - oldQuantity
  job = {'u', userId, 'op', 'remove', 'b', bookId}
else
  local lineTotal = newQuantity * price
  redis.call('HSET', KEYS[2], bookId, encodeLine(bookId, title, price, newQuantity, stock))
  if oldQuantity == 0 then redis.call('SADD', KEYS[9] .. bookId, userId) end
  total = total - oldLineTotal + lineTotal
  count = count - oldQuantity + newQuantity
  job = {'u', userId, 'op', 'put', 'b', bookId, 'q', newQuantity, 'p', price, 't', title}
end
version = version + 1
updatedAt = cjson.encode(ARGV[7])
redis.call('HSET', KEYS[1], 'v', version, 'e', epoch, 't', total, 'n', count, 'u', updatedAt)
redis.call('SADD', KEYS[7], userId)
remember('ok')

local cart = snapshot()
local connection = ARGV[4] == '' and 'null' or cjson.encode(ARGV[4])
publishUpdate(ARGV[8], cart, '{"requestId":' .. cjson.encode(requestId) .. ',"connectionId":' .. connection ..
  ',"via":' .. cjson.encode(ARGV[5]) .. '}')
appendJob(KEYS[5], job, epoch, version, total, ARGV[6])

return {'ok', cart, '', ''}

-- Every cart command of one user as one atomic step. Checks come before the first
-- write (Redis has no rollback); a change bumps the version by exactly one, publishes
-- the new cart on the user's room and appends its persistence job to the shard outbox.
-- Loaded after lua/cartlib.lua (encodeLine, linesOf, snapshotJSON, publishUpdate, appendJob).
--
-- Each redis.call costs about a microsecond of Lua<->Redis conversion on top of the
-- command, so a command reads everything it needs in two calls (the meta hash, which
-- also remembers request outcomes, and the lines hash) and builds the snapshot from
-- the lines it already holds.
--
-- KEYS: 1 meta hash: v version, e epoch, t total (cents), n item count, u updatedAt (JSON),
--         and the outcomes of the last request ids: "r:" .. requestId -> "ok" or
--         "err\tCODE\tmessage", those ids in a ring of slots q0.. (ARGV[11] of them), qn how many
--         were ever remembered,
--       2 lines hash, 3 outbox stream,
--       4 the shard's generation hash (g: generation number, the epoch of carts created or
--         restored now; loaded: present when no cart needs restoring from Postgres),
--       5 the shard's cart index (set of user ids),
--       6 the shard's catalog revisions (hash bookId -> newest revision the catalog walk
--         took into this shard),
--       7 the prefix of the shard's book indexes: KEYS[7] .. bookId is the set of user ids
--         whose cart holds that book. Those keys are derived here, not declared: a command
--         may touch several (clear, rehydrate). They carry the same {s:N} tag as every
--         other key, so they live in the same slot; non-cluster Redis does not check
--         declarations, and Redis Cluster routes by slot, which they share.
-- ARGV: 1 op (get|add|set|remove|clear|rehydrate|deduct), 2 userId, 3 requestId, 4 connectionId
--       ("" = none), 5 via, 6 now (ms), 7 now (ISO 8601), 8 room channel, 9 max lines,
--       10 max quantity, 11 request ids remembered, 12 bookId, 13 quantity, 14 title,
--       15 unit price (cents), 16 stock, 17 the book's catalog revision the hub priced with
--       deduct (an order was paid: its quantities leave the cart, lines added since stay):
--       18.. pairs bookId, quantity; one version bump for all lines, one job (op "several")
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
local outcomeField = 'r:' .. requestId

local meta = redis.call('HMGET', KEYS[1], 'v', 'e', 't', 'n', 'u', outcomeField, 'qn')
local isNew = not meta[1]
local version = tonumber(meta[1]) or 0
local epoch = tonumber(meta[2])
local total = tonumber(meta[3]) or 0
local count = tonumber(meta[4]) or 0
local updatedAt = meta[5] or 'null'
local lines

if isNew then
  local generation = redis.call('HMGET', KEYS[4], 'g', 'loaded')
  epoch = tonumber(generation[1])
  if not epoch or (op ~= 'rehydrate' and not generation[2]) then
    return {'missing', '', '', ''}
  end
  lines = {}
  if op == 'rehydrate' then
    -- First access after a loss: load the Postgres copy under the new epoch, once.
    version, total = tonumber(ARGV[12]), tonumber(ARGV[13])
    updatedAt = ARGV[14] == '' and 'null' or cjson.encode(ARGV[14])
    local flat = {}
    for i = 15, #ARGV, 5 do
      local quantity, price = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
      lines[ARGV[i]] = encodeLine(ARGV[i], ARGV[i + 3], price, quantity, tonumber(ARGV[i + 4]))
      flat[#flat + 1] = ARGV[i]
      flat[#flat + 1] = lines[ARGV[i]]
      redis.call('SADD', KEYS[7] .. ARGV[i], userId)
      count = count + quantity
    end
    if #flat > 0 then redis.call('HSET', KEYS[2], unpack(flat)) end
    redis.call('HSET', KEYS[1], 'v', int(version), 'e', int(epoch), 't', int(total), 'n', int(count), 'u', updatedAt)
    redis.call('SADD', KEYS[5], userId)
  end
else
  lines = linesOf(KEYS[2])
end

local function snapshot()
  return snapshotJSON(lines, userId, epoch, version, total, count, updatedAt)
end

if op == 'get' or op == 'rehydrate' then
  return {'ok', snapshot(), '', ''}
end

local prior = meta[6]
if prior then
  local code, message = string.match(prior, '^err\t([^\t]*)\t(.*)$')
  return {'dup', snapshot(), code or '', message or ''}
end

local bookId = ARGV[12]
if op == 'add' or op == 'set' then
  -- A hub whose catalog cache is older than the walk must not write the old price or title.
  local walked = redis.call('HGET', KEYS[6], bookId)
  if walked and tonumber(walked) > tonumber(ARGV[17]) then
    return {'stale', '', '', ''}
  end
end

-- The meta fields that remember this request's outcome, to write with the rest of the
-- meta: the ids sit in a ring of slots q0..q(keep-1), qn counts them all, and the id a
-- slot held before is forgotten (HDEL). Small writes: every write is also appended to
-- the AOF.
local function remembered(outcome)
  local n, keep = tonumber(meta[7]) or 0, tonumber(ARGV[11])
  local slot = 'q' .. int(n % keep)
  if n >= keep then
    local evicted = redis.call('HGET', KEYS[1], slot)
    if evicted then redis.call('HDEL', KEYS[1], 'r:' .. evicted) end
  end
  return outcomeField, outcome, slot, requestId, 'qn', int(n + 1)
end

local function fail(code, message)
  redis.call('HSET', KEYS[1], remembered('err\t' .. code .. '\t' .. message))
  return {'err', snapshot(), code, message}
end

if op == 'deduct' then
  local job, removed, k = {'u', userId, 'op', 'several'}, {}, 0
  for i = 18, #ARGV, 2 do
    local id, quantity = ARGV[i], tonumber(ARGV[i + 1])
    local old = lines[id]
    if old then
      local oldQuantity = tonumber(string.match(old, '"quantity":(%d+)'))
      local oldLineTotal = tonumber(string.match(old, '"lineTotalCents":(%d+)'))
      local left = oldQuantity - quantity
      total = total - oldLineTotal
      count = count - oldQuantity
      if left <= 0 then
        redis.call('HDEL', KEYS[2], id)
        redis.call('SREM', KEYS[7] .. id, userId)
        lines[id] = nil
        removed[#removed + 1] = id
      else
        local price = tonumber(string.match(old, '"unitPriceCents":(%d+)'))
        local title = cjson.decode(old).title
        local line = encodeLine(id, title, price, left, tonumber(string.match(old, '"available":(%d+)')))
        redis.call('HSET', KEYS[2], id, line)
        lines[id] = line
        total = total + left * price
        count = count + left
        k = k + 1
        for _, field in ipairs({'b' .. k, id, 'q' .. k, left, 'p' .. k, price, 't' .. k, title}) do job[#job + 1] = field end
      end
    end
  end
  if k == 0 and #removed == 0 then
    if not isNew then redis.call('HSET', KEYS[1], remembered('ok')) end
    return {'ok', snapshot(), '', ''}
  end
  job[#job + 1] = 'k'
  job[#job + 1] = k
  job[#job + 1] = 'rm'
  job[#job + 1] = table.concat(removed, ',')
  version = version + 1
  updatedAt = cjson.encode(ARGV[7])
  redis.call('HSET', KEYS[1], 'v', int(version), 'e', int(epoch), 't', int(total), 'n', int(count), 'u', updatedAt, remembered('ok'))
  local cart = snapshot()
  publishUpdate(ARGV[8], cart, '{"requestId":' .. cjson.encode(requestId) .. ',"connectionId":null,"via":' .. cjson.encode(ARGV[5]) .. '}')
  appendJob(KEYS[3], job, epoch, version, total, ARGV[6])
  return {'ok', cart, '', ''}
end

local oldQuantity, oldLineTotal = 0, 0
local oldLine = bookId ~= '' and lines[bookId]
if oldLine then
  oldQuantity = tonumber(string.match(oldLine, '"quantity":(%d+)'))
  oldLineTotal = tonumber(string.match(oldLine, '"lineTotalCents":(%d+)'))
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
  if oldQuantity == 0 then
    local held = 0
    for _ in pairs(lines) do held = held + 1 end
    if held >= tonumber(ARGV[9]) then
      return fail('CART_LIMIT', 'a cart holds at most ' .. ARGV[9] .. ' different books')
    end
  end
elseif op ~= 'clear' then
  return redis.error_reply('unknown op ' .. op)
end
if newQuantity and newQuantity > oldQuantity and newQuantity > stock then
  return fail('INSUFFICIENT_STOCK', 'only ' .. ARGV[16] .. ' of ' .. bookId .. ' in stock')
end

-- Apply. The book index changes only when a line appears or goes, the cart index
-- only when the cart appears.
local price, title = tonumber(ARGV[15]), ARGV[14]
local job = {'u', userId, 'op', op}
if op == 'clear' then
  for id in pairs(lines) do redis.call('SREM', KEYS[7] .. id, userId) end
  if next(lines) then redis.call('DEL', KEYS[2]) end
  lines = {}
  total, count = 0, 0
elseif newQuantity == 0 then
  redis.call('HDEL', KEYS[2], bookId)
  redis.call('SREM', KEYS[7] .. bookId, userId)
  lines[bookId] = nil
  total = total - oldLineTotal
  count = count - oldQuantity
  job = {'u', userId, 'op', 'remove', 'b', bookId}
else
  local line = encodeLine(bookId, title, price, newQuantity, stock)
  redis.call('HSET', KEYS[2], bookId, line)
  if oldQuantity == 0 then redis.call('SADD', KEYS[7] .. bookId, userId) end
  lines[bookId] = line
  total = total - oldLineTotal + newQuantity * price
  count = count - oldQuantity + newQuantity
  job = {'u', userId, 'op', 'put', 'b', bookId, 'q', int(newQuantity), 'p', ARGV[15], 't', title}
end
version = version + 1
updatedAt = cjson.encode(ARGV[7])
redis.call('HSET', KEYS[1], 'v', int(version), 'e', int(epoch), 't', int(total), 'n', int(count), 'u', updatedAt, remembered('ok'))
if isNew then redis.call('SADD', KEYS[5], userId) end

local cart = snapshot()
local connection = ARGV[4] == '' and 'null' or cjson.encode(ARGV[4])
publishUpdate(ARGV[8], cart, '{"requestId":' .. cjson.encode(requestId) .. ',"connectionId":' .. connection ..
  ',"via":' .. cjson.encode(ARGV[5]) .. '}')
appendJob(KEYS[3], job, epoch, version, total, ARGV[6])

return {'ok', cart, '', ''}

-- Every cart command of one user as one atomic step. Checks come before the first
-- write (Redis has no rollback); a change bumps the version by exactly one, publishes
-- the new cart on the user's room and appends its persistence job to the shard outbox.
-- Loaded after lua/cartlib.lua (its locals: call, encode, int, encodeLine, lineCounts, linesOf,
-- itemsOf, snapshotJSON, publishUpdate, appendJob, ...).
--
-- Each redis.call costs about a microsecond of Lua<->Redis conversion on top of the
-- command, and every string Lua builds costs per byte, so a command reads the cart in one
-- call: the meta hash, which holds the cart's items JSON (the lines hash serves deduct
-- and other readers). The snapshot is that JSON in its frame, and a change edits it where
-- the line is. A change also reads and writes the request outcomes.
--
-- KEYS: 1 meta hash: v version, e epoch, t total (cents), n item count, u updatedAt (JSON),
--         i the items JSON: the lines' JSON sorted by bookId, joined by commas, iv the
--         version it was written at (a cart of the former layout, which kept request
--         outcomes here too, has none; a script of that layout changes v, not i: either
--         way i is built from the lines hash until remember() moves the cart to this
--         layout),
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
--       Derived the same way: KEYS[1] .. ":requests", the outcomes of the last ARGV[11]
--         request ids: "r:" .. requestId -> bucket ("0" or "1", see remember()) .. its
--         number .. "\t" .. "ok" or "err\tCODE\tmessage", and qn how many ids were ever
--         remembered (the next one's number). A hash of their own keeps the meta hash small.
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
-- rehydrate it first; or, before the shard has a generation, retry later. After a change
-- the cart JSON comes as the whole `cart.updated` event it published, whose "cart" member
-- it is (building that JSON a second time would cost as much again):
-- CartScriptCall.cart(fromReply:) takes it out.
-- A line carries "available":stock exactly when its quantity exceeds the stock the
-- command saw (setQuantity may lower a line to a value still above the stock).

local op, userId, requestId = ARGV[1], ARGV[2], ARGV[3]

local meta = call('HMGET', KEYS[1], 'v', 'e', 't', 'n', 'u', 'i', 'iv')
local isNew = not meta[1]
-- The strings Redis holds: only a change turns version, total and count into numbers.
local version, epoch, total, count = meta[1] or '0', meta[2], meta[3] or '0', meta[4] or '0'
local updatedAt, items, legacy = meta[5] or 'null', meta[6], false

if isNew then
  local generation = call('HMGET', KEYS[4], 'g', 'loaded')
  epoch = generation[1]
  if not epoch or (op ~= 'rehydrate' and not generation[2]) then
    return {'missing', '', '', ''}
  end
  items = ''
  if op == 'rehydrate' then
    -- First access after a loss: load the Postgres copy under the new epoch, once.
    version, total, count = int(tonumber(ARGV[12])), int(tonumber(ARGV[13])), 0
    updatedAt = ARGV[14] == '' and 'null' or encode(ARGV[14])
    local lines, flat = {}, {}
    for i = 15, #ARGV, 5 do
      local quantity, price = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
      lines[ARGV[i]] = encodeLine(ARGV[i], ARGV[i + 3], price, quantity, tonumber(ARGV[i + 4]))
      flat[#flat + 1] = ARGV[i]
      flat[#flat + 1] = lines[ARGV[i]]
      call('SADD', KEYS[7] .. ARGV[i], userId)
      count = count + quantity
    end
    count, items = int(count), itemsOf(lines)
    if #flat > 0 then call('HSET', KEYS[2], unpack(flat)) end
    call('HSET', KEYS[1], 'v', version, 'e', epoch, 't', total, 'n', count, 'u', updatedAt, 'i', items, 'iv', version)
    call('SADD', KEYS[5], userId)
  end
elseif meta[7] ~= meta[1] then
  -- A cart of the former layout, or changed by its script since.
  items, legacy = itemsOf(linesOf(KEYS[2])), true
end

local function snapshot()
  return snapshotJSON(userId, epoch, version, items, total, count, updatedAt)
end

if op == 'get' or op == 'rehydrate' then
  return {'ok', snapshot(), '', ''}
end

-- The request's outcome if it is one of the last keep ids. A cart of the former layout
-- may also have one in its meta, in a ring of keep slots q0.. (remember() moves them).
local requestsKey, keep = KEYS[1] .. ':requests', tonumber(ARGV[11])
local requests = call('HMGET', requestsKey, 'qn', 'r:' .. requestId)
local n, prior = tonumber(requests[1]), requests[2]
if prior then
  local number, outcome = match(prior, '^%d(%d+)\t(.*)$')
  prior = tonumber(number) >= n - keep and outcome
elseif legacy then
  -- Numbering goes on from the ring's if this hash has none yet.
  local ring = call('HMGET', KEYS[1], 'qn', 'r:' .. requestId)
  n, prior = n or tonumber(ring[1]), ring[2]
end
n = n or 0
if prior then
  local code, message = match(prior, '^err\t([^\t]*)\t(.*)$')
  return {'dup', snapshot(), code or '', message or ''}
end

local bookId = ARGV[12]
if op == 'add' or op == 'set' then
  -- A hub whose catalog cache is older than the walk must not write the old price or title.
  local walked = call('HGET', KEYS[6], bookId)
  if walked and tonumber(walked) > tonumber(ARGV[17]) then
    return {'stale', '', '', ''}
  end
end

-- Remembers this request's outcome as number n. Its field also holds its bucket, "0" or
-- "1" as floor(number / keep) is even or odd: before a bucket takes new ids, those it held
-- (all older than the last keep) are dropped at once, so a command looks up one field,
-- reads no ring slot and deletes nothing most of the time. Small writes: every write is
-- also appended to the AOF.
local function bucketOf(number)
  return number % (2 * keep) < keep and '0' or '1'
end

local function remember(outcome)
  local bucket = bucketOf(n)
  if n % keep == 0 and n >= keep then
    local fields, old = call('HGETALL', requestsKey), {}
    for i = 1, #fields, 2 do
      if sub(fields[i], 1, 2) == 'r:' and sub(fields[i + 1], 1, 1) == bucket then old[#old + 1] = fields[i] end
    end
    if #old > 0 then call('HDEL', requestsKey, unpack(old)) end
  end
  call('HSET', requestsKey, 'r:' .. requestId, bucket .. n .. '\t' .. outcome, 'qn', n + 1)
  if legacy then
    -- The former layout's ring moves here, each id as old as it is there: slot s held the
    -- id numbered qn - 1 - (qn - 1 - s) % keep.
    local fields, numbers, moved, old, ringCount = call('HGETALL', KEYS[1]), {}, {}, {'qn'}, 0
    for i = 1, #fields, 2 do
      if fields[i] == 'qn' then ringCount = tonumber(fields[i + 1]) end
    end
    for i = 1, #fields, 2 do
      local slot = match(fields[i], '^q(%d+)$')
      if slot then
        numbers[fields[i + 1]] = math.max(n - 1 - (ringCount - 1 - tonumber(slot)) % keep, 0)
        old[#old + 1] = fields[i]
      end
    end
    for i = 1, #fields, 2 do
      local id = match(fields[i], '^r:(.*)$')
      local number = id and numbers[id]
      if number then
        moved[#moved + 1], moved[#moved + 2] = fields[i], bucketOf(number) .. number .. '\t' .. fields[i + 1]
      end
      if id then old[#old + 1] = fields[i] end
    end
    if #moved > 0 then call('HSET', requestsKey, unpack(moved)) end
    call('HDEL', KEYS[1], unpack(old))
    -- Its items too, so that the cart is in this layout whatever this command does.
    call('HSET', KEYS[1], 'i', items, 'iv', version)
    legacy = false
  end
end

local function fail(code, message)
  remember('err\t' .. code .. '\t' .. message)
  return {'err', snapshot(), code, message}
end

if op == 'deduct' then
  local lines = linesOf(KEYS[2])
  local newTotal, newCount = tonumber(total), tonumber(count)
  local job, removed, k = {'u', userId, 'op', 'several'}, {}, 0
  for i = 18, #ARGV, 2 do
    local id, quantity = ARGV[i], tonumber(ARGV[i + 1])
    local old = lines[id]
    if old then
      local oldQuantity, oldLineTotal = lineCounts(old, 1)
      local left = oldQuantity - quantity
      newTotal = newTotal - oldLineTotal
      newCount = newCount - oldQuantity
      if left <= 0 then
        call('HDEL', KEYS[2], id)
        call('SREM', KEYS[7] .. id, userId)
        lines[id] = nil
        removed[#removed + 1] = id
      else
        local price = tonumber(match(old, '"unitPriceCents":(%d+)'))
        local title = cjson.decode(old).title
        local line = encodeLine(id, title, price, left, tonumber(match(old, '"available":(%d+)')))
        call('HSET', KEYS[2], id, line)
        lines[id] = line
        newTotal = newTotal + left * price
        newCount = newCount + left
        k = k + 1
        for _, field in ipairs({'b' .. k, id, 'q' .. k, left, 'p' .. k, price, 't' .. k, title}) do job[#job + 1] = field end
      end
    end
  end
  if k == 0 and #removed == 0 then
    if not isNew then remember('ok') end
    return {'ok', snapshot(), '', ''}
  end
  job[#job + 1] = 'k'
  job[#job + 1] = k
  job[#job + 1] = 'rm'
  job[#job + 1] = concat(removed, ',')
  version, total, count = int(tonumber(version) + 1), int(newTotal), int(newCount)
  updatedAt, items = encode(ARGV[7]), itemsOf(lines)
  call('HSET', KEYS[1], 'v', version, 't', total, 'n', count, 'u', updatedAt, 'i', items, 'iv', version)
  remember('ok')
  local event = publishUpdate(ARGV[8], userId, epoch, version, items, total, count, updatedAt,
    '{"requestId":' .. encode(requestId) .. ',"connectionId":null,"via":' .. encode(ARGV[5]) .. '}')
  appendJob(KEYS[3], job, epoch, version, total, ARGV[6])
  return {'ok', event, '', ''}
end

-- The book's line in items: from `at` up to the comma before the next line (`after`, nil
-- for the last). A new line goes in front of the line at `before` (nil: at the end).
local at, after, before = bookId ~= '' and find(items, '{"bookId":' .. encode(bookId) .. ',', 1, true)
local oldQuantity, oldLineTotal = 0, 0
if at then
  after = find(items, ',{"bookId":', at, true)
  oldQuantity, oldLineTotal = lineCounts(items, at)
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
    -- Count the lines, and find the first whose bookId sorts after the new one: the new
    -- line goes in front of it.
    local held, from = 0, 1
    while true do
      local start = find(items, '{"bookId":"', from, true)
      if not start then break end
      held = held + 1
      if not before and match(items, '^{"bookId":"([^"]*)"', start) > bookId then before = start end
      from = start + 11
    end
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
local newTotal, newCount = tonumber(total), tonumber(count)
local job
if op == 'clear' then
  for id in string.gmatch(items, '{"bookId":"([^"]*)"') do call('SREM', KEYS[7] .. id, userId) end
  if items ~= '' then call('DEL', KEYS[2]) end
  items = ''
  newTotal, newCount = 0, 0
  job = {'u', userId, 'op', 'clear'}
elseif newQuantity == 0 then
  call('HDEL', KEYS[2], bookId)
  call('SREM', KEYS[7] .. bookId, userId)
  if after then
    items = sub(items, 1, at - 1) .. sub(items, after + 1)
  else
    items = at > 1 and sub(items, 1, at - 2) or ''
  end
  newTotal = newTotal - oldLineTotal
  newCount = newCount - oldQuantity
  job = {'u', userId, 'op', 'remove', 'b', bookId}
else
  local price, title = tonumber(ARGV[15]), ARGV[14]
  local line = encodeLine(bookId, title, price, newQuantity, stock)
  call('HSET', KEYS[2], bookId, line)
  if at then
    items = sub(items, 1, at - 1) .. line .. (after and sub(items, after) or '')
  else
    call('SADD', KEYS[7] .. bookId, userId)
    if before then
      items = sub(items, 1, before - 1) .. line .. ',' .. sub(items, before)
    else
      items = items == '' and line or items .. ',' .. line
    end
  end
  newTotal = newTotal - oldLineTotal + newQuantity * price
  newCount = newCount - oldQuantity + newQuantity
  job = {'u', userId, 'op', 'put', 'b', bookId, 'q', newQuantity, 'p', ARGV[15], 't', title}
end
version, total, count = int(tonumber(version) + 1), int(newTotal), int(newCount)
updatedAt = encode(ARGV[7])
call('HSET', KEYS[1], 'v', version, 't', total, 'n', count, 'u', updatedAt, 'i', items, 'iv', version)
remember('ok')
-- The epoch is written once, with the cart.
if isNew then
  call('HSET', KEYS[1], 'e', epoch)
  call('SADD', KEYS[5], userId)
end

local connection = ARGV[4] == '' and 'null' or encode(ARGV[4])
local event = publishUpdate(ARGV[8], userId, epoch, version, items, total, count, updatedAt,
  '{"requestId":' .. encode(requestId) .. ',"connectionId":' .. connection .. ',"via":' .. encode(ARGV[5]) .. '}')
appendJob(KEYS[3], job, epoch, version, total, ARGV[6])

return {'ok', event, '', ''}

#!lua
-- Shared by cart.lua and catalog.lua. Redis scripts cannot load modules, so every
-- loader (CartScript, CatalogScript, scripts/bench.sh) sends this file followed by
-- the script, as one source: both scripts write lines, snapshots, events and
-- persistence jobs the same way, byte for byte.
--
-- What a call costs is mostly the strings Lua creates (each is hashed, copied and later
-- garbage collected, about 1.5 ns per byte) and the C functions it calls, so: no
-- intermediate strings, numbers formatted once, globals looked up once (here).
local call, format, find, match, sub, concat, sort, encode = redis.call, string.format, string.find, string.match,
  string.sub, table.concat, table.sort, cjson.encode

-- Lua numbers are doubles, and turning one into text (a concatenation, or an argument
-- of redis.call) formats it with "%.14g", which is several times dearer than formatting
-- an integer: every amount here is an integer, so format them as such.
local function int(n)
  return format('%d', n)
end

-- A line's JSON (price, quantity and stock are numbers). `available` (the stock) only
-- when the line holds more than the stock; pass no stock to leave it out.
local function encodeLine(bookId, title, price, quantity, stock)
  if stock and quantity > stock then
    return format('{"bookId":%s,"title":%s,"unitPriceCents":%d,"quantity":%d,"lineTotalCents":%d,"available":%d}',
      encode(bookId), encode(title), price, quantity, quantity * price, stock)
  end
  return format('{"bookId":%s,"title":%s,"unitPriceCents":%d,"quantity":%d,"lineTotalCents":%d}',
    encode(bookId), encode(title), price, quantity, quantity * price)
end

-- The quantity and line total of the line JSON that starts at `at` in s (a line, or a
-- cart's items). A plain find is enough: `,"quantity":` cannot occur inside the encoded
-- title, whose quotes are escaped.
local function lineCounts(s, at)
  local quantity, lineTotal = match(s, '^(%d+),"lineTotalCents":(%d+)', find(s, ',"quantity":', at, true) + 12)
  return tonumber(quantity), tonumber(lineTotal)
end

-- A cart's lines hash as a table bookId -> line JSON.
local function linesOf(linesKey)
  local flat, byId = call('HGETALL', linesKey), {}
  for i = 1, #flat, 2 do byId[flat[i]] = flat[i + 1] end
  return byId
end

-- A cart's items JSON (meta field i) from its lines (bookId -> JSON): the lines sorted
-- by bookId, joined by commas, never re-encoded.
local function itemsOf(byId)
  local ids, n = {}, 0
  for id in pairs(byId) do
    n = n + 1
    ids[n] = id
  end
  sort(ids)
  for i = 1, n do ids[i] = byId[ids[i]] end
  return concat(ids, ',')
end

-- The cart snapshot from its items JSON, in one format call. epoch, version, total and
-- count are integer strings; updatedAt is already JSON (a quoted string or null).
local function snapshotJSON(userId, epoch, version, items, total, count, updatedAt)
  return format('{"userId":%s,"epoch":%s,"version":%s,"items":[%s],"totalCents":%s,"itemCount":%s,"updatedAt":%s}',
    encode(userId), epoch, version, items, total, count, updatedAt)
end

-- Sends `cart.updated` (the snapshot of snapshotJSON, then origin: the JSON object of its
-- cause) to the user's room and returns it; one format call, not the snapshot and then
-- the event, since every string built costs per byte.
local function publishUpdate(channel, userId, epoch, version, items, total, count, updatedAt, origin)
  local event = format('{"type":"cart.updated","cart":{"userId":%s,"epoch":%s,"version":%s,"items":[%s],"totalCents":%s,"itemCount":%s,"updatedAt":%s},"origin":%s}',
    encode(userId), epoch, version, items, total, count, updatedAt, origin)
  call('PUBLISH', channel, event)
  return event
end

-- Appends a persistence job (fields u op [b q p t]) with the cart's resulting
-- epoch, version, total and change time to the shard's outbox.
local function appendJob(stream, job, epoch, version, total, nowMs)
  local n = #job
  job[n + 1], job[n + 2], job[n + 3], job[n + 4], job[n + 5], job[n + 6], job[n + 7], job[n + 8] =
    'e', epoch, 'v', version, 'tot', total, 'at', nowMs
  call('XADD', stream, '*', unpack(job))
end

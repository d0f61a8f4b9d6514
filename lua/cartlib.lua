#!lua
-- Shared by cart.lua and catalog.lua. Redis scripts cannot load modules, so every
-- loader (CartScript, CatalogScript, scripts/bench.sh) sends this file followed by
-- the script, as one source: both scripts write lines, snapshots, events and
-- persistence jobs the same way, byte for byte.

-- Lua numbers are doubles, and turning one into text (a concatenation, or an argument
-- of redis.call) formats it with "%.14g", which is several times dearer than formatting
-- an integer: every amount here is an integer, so format them as such.
local function int(n)
  return string.format('%d', n)
end

-- A line's JSON. `available` (the stock) only when the line holds more than the
-- stock; pass no stock to leave it out.
local function encodeLine(bookId, title, price, quantity, stock)
  local line = '{"bookId":' .. cjson.encode(bookId) .. ',"title":' .. cjson.encode(title) ..
    ',"unitPriceCents":' .. int(price) .. ',"quantity":' .. int(quantity) .. ',"lineTotalCents":' .. int(quantity * price)
  if stock and quantity > stock then
    return line .. ',"available":' .. int(stock) .. '}'
  end
  return line .. '}'
end

-- A cart's lines hash as a table bookId -> line JSON.
local function linesOf(linesKey)
  local flat, byId = redis.call('HGETALL', linesKey), {}
  for i = 1, #flat, 2 do byId[flat[i]] = flat[i + 1] end
  return byId
end

-- The cart snapshot from its pre-encoded lines (bookId -> JSON), sorted by bookId,
-- never re-encoded. updatedAt is already JSON (a quoted string or null).
local function snapshotJSON(byId, userId, epoch, version, total, count, updatedAt)
  local ids = {}
  for id in pairs(byId) do ids[#ids + 1] = id end
  table.sort(ids)
  local items = {}
  for i = 1, #ids do items[i] = byId[ids[i]] end
  return '{"userId":' .. cjson.encode(userId) .. ',"epoch":' .. int(epoch) .. ',"version":' .. int(version) ..
    ',"items":[' .. table.concat(items, ',') .. '],"totalCents":' .. int(total) ..
    ',"itemCount":' .. int(count) .. ',"updatedAt":' .. updatedAt .. '}'
end

local function snapshotOf(linesKey, userId, epoch, version, total, count, updatedAt)
  return snapshotJSON(linesOf(linesKey), userId, epoch, version, total, count, updatedAt)
end

-- Sends `cart.updated` to the user's room; origin is the JSON object of its cause.
local function publishUpdate(channel, cart, origin)
  redis.call('PUBLISH', channel, '{"type":"cart.updated","cart":' .. cart .. ',"origin":' .. origin .. '}')
end

-- Appends a persistence job (fields u op [b q p t]) with the cart's resulting
-- epoch, version, total and change time to the shard's outbox.
local function appendJob(stream, job, epoch, version, total, nowMs)
  job[#job + 1] = 'e'
  job[#job + 1] = int(epoch)
  job[#job + 1] = 'v'
  job[#job + 1] = int(version)
  job[#job + 1] = 'tot'
  job[#job + 1] = int(total)
  job[#job + 1] = 'at'
  job[#job + 1] = nowMs
  redis.call('XADD', stream, '*', unpack(job))
end

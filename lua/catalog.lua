-- A catalog change walked into the carts of one shard (carthub worker, CatalogSync).
-- Loaded after lua/cartlib.lua (encodeLine, lineCounts, linesOf, itemsOf, publishUpdate, appendJob).
--
-- op "begin": records the book's revision in the shard, then hands over the carts to walk.
--   KEYS: 1 the shard's catalog revisions hash, 2 the book's index in this shard
--   ARGV: 1 "begin", 2 bookId, 3 revision
--   Returns {1, user ids holding the book}, or {0, {}} when the shard already took a newer
--   revision of the book (this walk is late: nothing to do). From now on cart.lua refuses
--   add/set priced from an older revision ("stale"), so the members are every cart that
--   can hold the book's old price or title.
--
-- op "apply": rewrites the book's line in a batch of the shard's carts.
--   KEYS: 1 revisions hash, 2 the book's index, 3 the shard's outbox stream, then for each
--         cart: its meta hash, its lines hash
--   ARGV: 1 "apply", 2 bookId, 3 revision, 4 deleted ("1"/"0"), 5 title, 6 unit price (cents),
--         7 stock, 8 now (ms), 9 now (ISO 8601), 10 room channel prefix, then the user id of
--         each cart, in KEYS order
--   For each cart that holds the book: deleted -> the line goes; otherwise the line gets the
--   new title and price and "available" when its quantity exceeds the stock. Only a line whose
--   JSON really changes makes a change of the cart: version + 1 (same epoch), totals, its
--   items JSON (i, iv), the `cart.updated` event with origin via "catalog" and reason
--   BOOK_DELETED, BOOK_CHANGED (title or price) or STOCK_CHANGED, and the usual persistence
--   job. A cart missing from Redis is skipped (it rehydrates from Postgres, which the jobs
--   keep right); a user in the index whose cart lacks the line leaves the index.
--   Returns {changed, unchanged, skipped}, or {-1, 0, 0} when a newer revision of the book
--   was walked into the shard meanwhile (nothing written).

local op, bookId, revision = ARGV[1], ARGV[2], tonumber(ARGV[3])
local walked = tonumber(redis.call('HGET', KEYS[1], bookId))

if op == 'begin' then
  if walked and walked > revision then return {0, {}} end
  if walked ~= revision then redis.call('HSET', KEYS[1], bookId, revision) end
  return {1, redis.call('SMEMBERS', KEYS[2])}
elseif op ~= 'apply' then
  return redis.error_reply('unknown op ' .. tostring(op))
end
if walked and walked > revision then return {-1, 0, 0} end

local deleted = ARGV[4] == '1'
local title, price, stock = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local nowMs, updatedAt, roomPrefix = ARGV[8], cjson.encode(ARGV[9]), ARGV[10]
local origin = ',"bookId":' .. cjson.encode(bookId) .. '}'
local changed, unchanged, skipped = 0, 0, 0

for i = 11, #ARGV do
  local userId = ARGV[i]
  local metaKey, linesKey = KEYS[2 * (i - 11) + 4], KEYS[2 * (i - 11) + 5]
  local meta = redis.call('HMGET', metaKey, 'v', 'e', 't', 'n')
  local old = meta[1] and redis.call('HGET', linesKey, bookId)
  if not meta[1] then
    skipped = skipped + 1
  elseif not old then
    redis.call('SREM', KEYS[2], userId)
    skipped = skipped + 1
  else
    local quantity, oldLineTotal = lineCounts(old, 1)
    local version, epoch = tonumber(meta[1]), meta[2]
    local total, count = tonumber(meta[3]) or 0, tonumber(meta[4]) or 0
    local reason, job
    if deleted then
      redis.call('HDEL', linesKey, bookId)
      redis.call('SREM', KEYS[2], userId)
      total = total - oldLineTotal
      count = count - quantity
      reason = 'BOOK_DELETED'
      job = {'u', userId, 'op', 'remove', 'b', bookId}
    else
      local line = encodeLine(bookId, title, price, quantity, stock)
      if line ~= old then
        local unmarked = string.gsub(old, ',"available":%d+}$', '}')
        reason = unmarked == encodeLine(bookId, title, price, quantity) and 'STOCK_CHANGED' or 'BOOK_CHANGED'
        redis.call('HSET', linesKey, bookId, line)
        total = total - oldLineTotal + quantity * price
        job = {'u', userId, 'op', 'put', 'b', bookId, 'q', quantity, 'p', price, 't', title}
      end
    end
    if reason then
      version = version + 1
      local items = itemsOf(linesOf(linesKey))
      redis.call('HSET', metaKey, 'v', version, 't', total, 'n', count, 'u', updatedAt, 'i', items, 'iv', version)
      publishUpdate(roomPrefix .. userId, userId, epoch, int(version), items, int(total), int(count), updatedAt, '{"requestId":null,"connectionId":null,"via":"catalog","reason":"' .. reason .. '"' .. origin)
      appendJob(KEYS[3], job, epoch, version, total, nowMs)
      changed = changed + 1
    else
      unchanged = unchanged + 1
    end
  end
end
return {changed, unchanged, skipped}

-- The cart script's first step: an add, quantity change or removal that the hub computed
-- itself from the cart as the user's room last showed it (CartChange in CartDomain), with
-- the same rules and the same bytes as the rest of lua/cart.lua. The hub checked the
-- command against that cart, so this step checks that the cart is still exactly that one
-- (epoch, version, current layout), that the request id is new and that the catalog walk
-- has not re-priced the book since; then it writes, bumps the version by one, publishes and
-- appends the job, in the order lua/cart.lua does, and answers "committed". Anything else
-- writes nothing and goes on to lua/cart.lua, which decides (refusals, repeated requests,
-- restores, a cart that moved on). One script, so a socket's commands still run in the order
-- it sent them. Lua building the cart's JSON was most of what a change cost Redis; this step
-- builds none, and it runs before lua/cartlib.lua's functions are even created.
-- Loaded after lua/outcomes.lua (outcomeOf, rememberOutcome), before lua/cartlib.lua.
--
-- KEYS and ARGV 1-17: lua/cart.lua's. The change, when the hub computed one:
-- ARGV: 18 epoch and 19 version it was computed from, 20 the new version, 21 the line's JSON
--       ("" = the line goes), 22 the book index: "+" the line appears, "-" it goes, "" neither,
--       23 total (cents), 24 item count, 25 updatedAt (JSON), 26 items JSON,
--       27 the `cart.updated` event, 28.. the job's fields and values

if #ARGV > 17 and (ARGV[1] == 'add' or ARGV[1] == 'set' or ARGV[1] == 'remove') then
  local meta = redis.call('HMGET', KEYS[1], 'v', 'e', 'iv')
  local requestsKey, keep, bookId = KEYS[1] .. ':requests', tonumber(ARGV[11]), ARGV[12]
  local current, n, prior = meta[1] == ARGV[19] and meta[2] == ARGV[18] and meta[3] == ARGV[19]
  if current then n, prior = outcomeOf(requestsKey, keep, ARGV[3]) end
  if current and not prior and ARGV[1] ~= 'remove' then
    local walked = redis.call('HGET', KEYS[6], bookId)
    current = not walked or tonumber(walked) <= tonumber(ARGV[17])
  end
  if current and not prior then
    if ARGV[21] == '' then
      redis.call('HDEL', KEYS[2], bookId)
    else
      redis.call('HSET', KEYS[2], bookId, ARGV[21])
    end
    if ARGV[22] == '+' then
      redis.call('SADD', KEYS[7] .. bookId, ARGV[2])
    elseif ARGV[22] == '-' then
      redis.call('SREM', KEYS[7] .. bookId, ARGV[2])
    end
    redis.call('HSET', KEYS[1], 'v', ARGV[20], 't', ARGV[23], 'n', ARGV[24], 'u', ARGV[25], 'i', ARGV[26], 'iv', ARGV[20])
    rememberOutcome(requestsKey, keep, n or 0, ARGV[3], 'ok')
    redis.call('PUBLISH', ARGV[8], ARGV[27])
    redis.call('XADD', KEYS[3], '*', unpack(ARGV, 28))
    return {'committed', '', '', ''}
  end
end

-- The floor of a cart change as the brief fixes it, for scripts/bench.sh's script
-- scenario: what one script must do for any change, with none of lua/cart.lua's
-- checks, idempotency or JSON editing. Called with lua/cart.lua's KEYS and ARGV,
-- it reads the cart (meta hash), bumps and writes it back, publishes an event as
-- large as the real one and appends the persistence job to the outbox.
local meta = redis.call('HMGET', KEYS[1], 'v', 'e', 't', 'n', 'u', 'i', 'iv')
local version = meta[1] + 1
redis.call('HSET', KEYS[1], 'v', version, 'i', meta[6], 'iv', version)
local event = '{"type":"cart.updated","cart":{"userId":"' .. ARGV[2] .. '","version":' .. version ..
  ',"items":[' .. meta[6] .. ']},"origin":{"requestId":"' .. ARGV[3] .. '"}}'
redis.call('PUBLISH', ARGV[8], event)
redis.call('XADD', KEYS[3], '*', 'u', ARGV[2], 'op', 'put', 'b', ARGV[12], 'q', ARGV[13], 'p', ARGV[15],
  't', ARGV[14], 'e', meta[2], 'v', version, 'tot', meta[3], 'at', ARGV[6])
return {'ok', event, '', ''}

-- The Redis store's one script: an AoR's changes from one node, applied
-- atomically (store_redis.h). Embedded into the binary at build time
-- (cmake/embed.cmake) and loaded with SCRIPT LOAD on every connection.
--
-- KEYS[1]: the AoR's hash. ARGV: node, channel, aor, now (Unix ms), then
-- ops of four: "s" FIELD VALUE "" (store unless the stored binding has the
-- same Call-ID and a higher CSeq: RFC 3261 §10.3 step 7) or "d" FIELD
-- CALL-ID CSEQ (delete if the stored binding is still that version).
-- Drops expired bindings, sets the key's expiry to the latest binding's,
-- publishes when anything changed. Returns how many ops were refused.
local function head(v)
  local pos, out = 1, {}
  for i = 1, 3 do
    local colon = string.find(v, ':', pos, true)
    if not colon then return nil end
    local n = tonumber(string.sub(v, pos, colon - 1))
    if not n then return nil end
    out[i] = string.sub(v, colon + 1, colon + n)
    pos = colon + n + 2
  end
  return tonumber(out[1]), tonumber(out[2]), out[3]
end
local key, refused, changed = KEYS[1], 0, false
for i = 5, #ARGV, 4 do
  local op, field = ARGV[i], ARGV[i + 1]
  local old = redis.call('HGET', key, field)
  local ocseq, oexp, ocid
  if old then ocseq, oexp, ocid = head(old) end
  if op == 's' then
    local cseq, exp, cid = head(ARGV[i + 2])
    if old and ocid == cid and ocseq and ocseq > cseq then
      refused = refused + 1
    else
      redis.call('HSET', key, field, ARGV[i + 2])
      changed = true
    end
  elseif old then
    if ocid == ARGV[i + 2] and ocseq == tonumber(ARGV[i + 3]) then
      redis.call('HDEL', key, field)
      changed = true
    else
      refused = refused + 1
    end
  end
end
local latest, now = 0, tonumber(ARGV[4])
local all = redis.call('HGETALL', key)
for i = 1, #all, 2 do
  local _, exp = head(all[i + 1])
  if not exp or exp <= now then
    redis.call('HDEL', key, all[i])
    changed = true
  elseif exp > latest then
    latest = exp
  end
end
if latest > 0 then redis.call('PEXPIREAT', key, latest) end
if changed then redis.call('PUBLISH', ARGV[2], ARGV[1] .. '\n' .. ARGV[3]) end
return refused

//! The server-side scripts. Every one touches only keys of one session, all in the
//! session's hash slot (`{handle}`), so each runs atomically on standalone Redis and
//! on Redis Cluster alike.
//!
//! Session hash fields: `h` handle, `p` principal (absent: anonymous), `c` created,
//! `l` last seen, `i` idle deadline, `a` absolute deadline, `x` expires at
//! (`min(i, a)`), `v` version, `r` remember (0/1), `ip`, `ua`, and one `d:<name>`
//! field per data key holding the value as JSON text. Times are Unix milliseconds.

use std::sync::LazyLock;

use redis::Script;

/// Applies a delta to the session in `KEYS[1]`, using `KEYS[3]` as scratch space.
/// Returns `false` when the session is missing or expired at `now`, a two-element
/// `{'e', code..':'..detail}` when the delta cannot be applied (nothing changed: an
/// increment on a non-integer or overflowing, or data over the bound), or true after
/// applying.
///
/// Lua numbers are doubles, so increments are never computed in Lua: they are first
/// replayed with `HINCRBY` on a scratch hash under `pcall` (Redis does 64-bit integer
/// arithmetic and reports non-integers and overflow), and only if every one succeeds
/// is anything written. A failed script is not rolled back by Redis; this way nothing
/// needs to be.
const APPLY_DELTA: &str = r"
local function apply_delta(key, scratch, argv, base)
  local now = tonumber(argv[base])
  local x = redis.call('HGET', key, 'x')
  if not x or tonumber(x) <= now then return false end
  local clear = argv[base + 1] == '1'
  local nops = tonumber(argv[base + 11])
  -- 1. Replay the data ops on the scratch copy of the keys they touch.
  redis.call('DEL', scratch)
  local touched = {}
  local i = base + 13
  for _ = 1, nops do
    local op, name = argv[i], argv[i + 1]
    local field = 'd:' .. name
    if not touched[field] then
      touched[field] = true
      if not clear then
        local current = redis.call('HGET', key, field)
        if current then redis.call('HSET', scratch, field, current) end
      end
    end
    if op == 'S' then
      redis.call('HSET', scratch, field, argv[i + 2]); i = i + 3
    elseif op == 'R' then
      redis.call('HDEL', scratch, field); i = i + 2
    else
      local ok = redis.pcall('HINCRBY', scratch, field, argv[i + 2])
      if type(ok) == 'table' and ok.err then
        redis.call('DEL', scratch)
        if string.find(ok.err, 'overflow') then return {'e', 'overflow:' .. name} end
        return {'e', 'integer:' .. name}
      end
      i = i + 3
    end
  end
  -- 1b. The data bound, against the session as stored now: every data entry is its
  -- name's bytes plus its JSON text (Record::data_size).
  if argv[base + 12] ~= '' then
    local max = tonumber(argv[base + 12])
    local size = 0
    if not clear then
      for _, f in ipairs(redis.call('HKEYS', key)) do
        if string.sub(f, 1, 2) == 'd:' and not touched[f] then
          size = size + #f - 2 + redis.call('HSTRLEN', key, f)
        end
      end
    end
    for field in pairs(touched) do
      local len = redis.call('HSTRLEN', scratch, field)
      if len > 0 then size = size + #field - 2 + len end
    end
    if size > max then
      redis.call('DEL', scratch)
      return {'e', 'size:' .. string.format('%d', size) .. ':' .. argv[base + 12]}
    end
  end
  -- 2. Nothing can fail any more: write.
  if clear then
    local all = redis.call('HKEYS', key)
    for _, f in ipairs(all) do
      if string.sub(f, 1, 2) == 'd:' then redis.call('HDEL', key, f) end
    end
  end
  for field in pairs(touched) do
    local value = redis.call('HGET', scratch, field)
    if value then redis.call('HSET', key, field, value) else redis.call('HDEL', key, field) end
  end
  redis.call('DEL', scratch)
  local mode = argv[base + 2]
  if mode == '=' then redis.call('HSET', key, 'p', argv[base + 3])
  elseif mode == '-' then redis.call('HDEL', key, 'p') end
  if argv[base + 4] ~= '' then redis.call('HSET', key, 'r', argv[base + 4]) end
  if argv[base + 5] == '1' then
    if argv[base + 6] ~= '' then redis.call('HSET', key, 'ip', argv[base + 6]) else redis.call('HDEL', key, 'ip') end
    if argv[base + 7] ~= '' then redis.call('HSET', key, 'ua', argv[base + 7]) else redis.call('HDEL', key, 'ua') end
  end
  local a = tonumber(redis.call('HGET', key, 'a'))
  local idle = tonumber(redis.call('HGET', key, 'i'))
  if argv[base + 8] ~= '' then
    a = tonumber(argv[base + 8])
    if idle > a then idle = a end
  end
  if argv[base + 9] ~= '' then
    local seen = tonumber(argv[base + 9])
    if seen > tonumber(redis.call('HGET', key, 'l')) then redis.call('HSET', key, 'l', argv[base + 9]) end
    idle = tonumber(argv[base + 10])
    if idle > a then idle = a end
  end
  local expires = idle
  if a < expires then expires = a end
  redis.call('HSET', key, 'a', string.format('%d', a), 'i', string.format('%d', idle), 'x', string.format('%d', expires))
  redis.call('HINCRBY', key, 'v', 1)
  redis.call('PEXPIREAT', key, string.format('%d', expires))
  return true
end
";

/// `KEYS`: session, handle pointer, scratch. `ARGV`: the delta (see `delta_args`).
/// Returns the session's fields after the change, `false` when gone, or an error pair.
pub(crate) static APPLY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{APPLY_DELTA}
local done = apply_delta(KEYS[1], KEYS[3], ARGV, 1)
if type(done) == 'table' or not done then return done end
redis.call('PEXPIREAT', KEYS[2], redis.call('HGET', KEYS[1], 'x'))
return redis.call('HGETALL', KEYS[1])"
    ))
});

/// `KEYS`: old session, handle pointer, scratch, new session. `ARGV`: the new key's
/// hash (hex), then the delta. Applies the delta and renames the session to the new
/// key in one step; `'taken'` when the new key exists.
pub(crate) static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{APPLY_DELTA}
if redis.call('EXISTS', KEYS[4]) == 1 then return 'taken' end
local done = apply_delta(KEYS[1], KEYS[3], ARGV, 2)
if type(done) == 'table' or not done then return done end
redis.call('RENAME', KEYS[1], KEYS[4])
local x = redis.call('HGET', KEYS[4], 'x')
redis.call('SET', KEYS[2], ARGV[1], 'PXAT', x)
return redis.call('HGETALL', KEYS[4])"
    ))
});

/// `KEYS`: session, handle pointer. `ARGV`: expires at, the key's hash (hex), then
/// field/value pairs. Inserts unless the key exists: 1 inserted, 0 taken.
pub(crate) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PXAT', ARGV[1])
return 1",
    )
});

/// `KEYS`: session, handle pointer. `ARGV`: now, last seen, idle deadline. Moves the
/// deadline of a live session only: 1 touched, 0 gone.
pub(crate) static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local x = redis.call('HGET', KEYS[1], 'x')
if not x or tonumber(x) <= tonumber(ARGV[1]) then return 0 end
local a = tonumber(redis.call('HGET', KEYS[1], 'a'))
local idle = tonumber(ARGV[3])
if idle > a then idle = a end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'l')) then redis.call('HSET', KEYS[1], 'l', ARGV[2]) end
redis.call('HSET', KEYS[1], 'i', string.format('%d', idle), 'x', string.format('%d', idle))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', idle))
redis.call('PEXPIREAT', KEYS[2], string.format('%d', idle))
return 1",
    )
});

/// `KEYS`: session, handle pointer. `ARGV`: the key's hash (hex). Deletes the session
/// (and the pointer if it still names this key). Returns `{deleted, principal}`.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p = redis.call('HGET', KEYS[1], 'p') or ''
local deleted = redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return {deleted, p}",
    )
});

/// `KEYS`: session, handle pointer. `ARGV`: now, the key's hash (hex). Deletes the
/// session if it is expired at `now` (or already gone): returns `{1, principal}`;
/// a live session is kept and its `expires at` returned: `{0, x}`.
pub(crate) static PURGE_ONE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local x = redis.call('HGET', KEYS[1], 'x')
if x and tonumber(x) > tonumber(ARGV[1]) then return {0, x} end
local p = redis.call('HGET', KEYS[1], 'p') or ''
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return {1, p}",
    )
});

/// `KEYS`: session, handle pointer. `ARGV`: the key's hash (hex), principal. Deletes
/// the session if it is `principal`'s: 1 deleted, 0 not (missing or someone else's).
pub(crate) static DELETE_OF_PRINCIPAL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'p') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1",
    )
});

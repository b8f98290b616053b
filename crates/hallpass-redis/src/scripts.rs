//! The server-side scripts of layout v2 (the crate docs describe the keys).
//!
//! Session hash fields: `k` the token hash (32 raw bytes), `c` created, `l` last
//! seen, `i` idle deadline, `a` absolute deadline, `v` version, `r` remember (present
//! only when set), `p` principal (absent: anonymous), `au` when and how the principal
//! last authenticated (its Unix milliseconds for a login with no level or methods,
//! else the JSON text of `Authenticated`; absent: none), `ro` the last token
//! rotation (its Unix milliseconds, then for a periodic rotation `:` and the hex
//! SHA-256 of the token it replaced; absent: never rotated), `z` the data size
//! ([`hallpass::store::Record::data_size`], kept up to date by every write), `ip`, `ua`, the
//! device binding (DBSC; all absent when unbound): `bt` the key's thumbprint, `bk` the
//! key (JWK text), `be` the epoch, `bg` when it was registered and `bf` last refreshed, and
//! one `d:<name>` field per data key holding its value as compact JSON text. Times
//! are Unix milliseconds. On a cluster a hash may also carry a fence (`fp`
//! principal, `fg` generation floor, `fq` admission floor, see [`ADMIT`]); a hash
//! without `k` is a fence only, never a session.
//!
//! Every script first checks the guard: the hash holds the caller's token hash and
//! is live at the caller's `now`. So no write resurrects a session that ended, and a
//! token that was rotated away can do nothing.
//!
//! "Inline" (`ARGV[1] == '1'`, standalone Redis) scripts also keep the principal
//! index and check admission in the same step as the session write; on a cluster,
//! where those keys live in other slots, the store runs [`ADMIT`] first and the
//! fences make the order safe.

use std::sync::LazyLock;

use redis::{Cmd, ToRedisArgs};

/// A script: its code and the SHA-1 `EVALSHA` names it by.
pub(crate) struct Lua {
    code: String,
    hash: String,
}

impl Lua {
    fn new(code: String) -> Self {
        let hash = redis::Script::new(&code).get_hash().to_owned();
        Self { code, hash }
    }

    /// A call of this script; keys first, then arguments.
    pub(crate) fn call(&'static self) -> Call {
        Call {
            lua: self,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    /// A call of this script, with its first key.
    pub(crate) fn key(&'static self, key: impl ToRedisArgs) -> Call {
        let mut call = self.call();
        call.key(key);
        call
    }

    /// `SCRIPT LOAD`, for a server that answered `NOSCRIPT` (after a restart or a
    /// failover).
    pub(crate) fn load(&self) -> Cmd {
        let mut cmd = redis::cmd("SCRIPT");
        cmd.arg("LOAD").arg(&self.code);
        cmd
    }
}

/// The keys and arguments of one script call.
pub(crate) struct Call {
    lua: &'static Lua,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Call {
    /// Adds a key (`KEYS[n]`).
    pub(crate) fn key(&mut self, key: impl ToRedisArgs) -> &mut Self {
        self.keys.extend(key.to_redis_args());
        self
    }

    /// Adds an argument (`ARGV[n]`).
    pub(crate) fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Self {
        self.args.extend(arg.to_redis_args());
        self
    }

    /// The script.
    pub(crate) fn lua(&self) -> &'static Lua {
        self.lua
    }

    /// The `EVALSHA` command.
    pub(crate) fn evalsha(&self) -> Cmd {
        let mut cmd = Cmd::with_capacity(
            3 + self.keys.len() + self.args.len(),
            self.keys
                .iter()
                .chain(&self.args)
                .map(Vec::len)
                .sum::<usize>()
                + 64,
        );
        cmd.arg("EVALSHA")
            .arg(&self.lua.hash)
            .arg(self.keys.len())
            .arg(&*self.keys)
            .arg(&*self.args);
        cmd
    }
}

/// Key names and small helpers shared by every script.
const PRELUDE: &str = r"
local function session_key(prefix, handle) return prefix .. '2:{' .. handle .. '}' end
local function index_key(prefix, principal) return prefix .. '2:u{' .. principal .. '}:i' end
local function meta_key(prefix, principal) return prefix .. '2:u{' .. principal .. '}:g' end
local function int(n) return string.format('%d', n) end
local function deadline(i, a) if i < a then return i end return a end
local grace = 60000
";

/// The admission of a login on standalone Redis, inside the session's write: the
/// generation check (only when the login quotes one), the cap (least recently seen
/// evicted first, as `SessionCap::victims` orders them) and, before counting, the
/// pruning of index members whose absolute deadline passed (without a cap, purge
/// prunes them). Each `redis.call` costs a script about 3 µs whatever the command,
/// so a login that needs neither check makes none. Returns a refusal, or `nil` and
/// the evicted handles.
const ADMIT_INLINE: &str = r"
local function admit(prefix, p, own, now, expected, max, policy)
  if expected ~= '' and (redis.call('HGET', meta_key(prefix, p), 'g') or '0') ~= expected then
    return {'r', 'credentials'}, {}
  end
  local evicted = {}
  if max == '' then return nil, evicted end
  local idx = index_key(prefix, p)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)
  local limit = tonumber(max)
  local count = redis.call('ZCARD', idx)
  if own and redis.call('ZSCORE', idx, own) then count = count - 1 end
  if count < limit then return nil, evicted end
  local others = {}
  for _, m in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
    if m ~= own then
      local f = redis.call('HMGET', session_key(prefix, m), 'k', 'p', 'l', 'c', 'i', 'a')
      if f[1] and f[2] == p and deadline(tonumber(f[5]), tonumber(f[6])) > tonumber(now) then
        others[#others + 1] = {tonumber(f[3]), tonumber(f[4]), m}
      else
        redis.call('ZREM', idx, m)
      end
    end
  end
  if #others < limit then return nil, evicted end
  if policy == 'r' then return {'r', 'cap', max}, {} end
  table.sort(others, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[3] < y[3]
  end)
  for n = 1, #others + 1 - math.max(limit, 1) do
    local m = others[n][3]
    redis.call('DEL', session_key(prefix, m))
    redis.call('ZREM', idx, m)
    evicted[#evicted + 1] = m
  end
  return nil, evicted
end
";

/// A cluster login's fence check: why a revoke-all (`credentials`: its generation
/// floor is above this login's admission generation `g`) or a cap eviction
/// (`evicted`: its admission floor is at or above this login's admission number
/// `q`) that ran after this login's admission fenced this handle for principal `p`;
/// `nil` when none did. An evicted login is admitted again by the store.
const FENCED: &str = r"
local function fenced(fp, fg, fq, p, g, q)
  if fp ~= p then return nil end
  if fg and g ~= '' and tonumber(fg) > tonumber(g) then return 'credentials' end
  if fq and q ~= '' and tonumber(fq) >= tonumber(q) then return 'evicted' end
  return nil
end
";

/// Applies the data part of a delta to the hash `key` in place, remembering every
/// field's old value first, so that a refusal (an increment on a non-integer or
/// overflowing, or data over the bound) puts everything back: nothing changes.
///
/// Increments use Redis's own `HINCRBY` under `pcall` (exact 64-bit arithmetic,
/// non-integers and overflow reported); Lua's numbers are doubles and never hold a
/// value. A take (`T`) reads and deletes its field, and `taken` keeps the value the
/// last one removed (`false`: none). The data size `z` is moved by the difference
/// of every touched field.
const DATA: &str = r"
local saved, order = {}, {}
local taken = false
local function save(key, field)
  if saved[field] == nil then
    saved[field] = redis.call('HGET', key, field) or false
    order[#order + 1] = field
  end
end
local function restore(key)
  for _, field in ipairs(order) do
    local old = saved[field]
    if old then redis.call('HSET', key, field, old) else redis.call('HDEL', key, field) end
  end
end
local function apply_data(key, B, z)
  if ARGV[B + 1] == '1' then
    for _, field in ipairs(redis.call('HKEYS', key)) do
      if string.sub(field, 1, 2) == 'd:' then save(key, field); redis.call('HDEL', key, field) end
    end
  end
  local i = B + 20
  for _ = 1, tonumber(ARGV[B + 12]) do
    local op, name = ARGV[i], ARGV[i + 1]
    local field = 'd:' .. name
    save(key, field)
    if op == 'S' then
      redis.call('HSET', key, field, ARGV[i + 2]); i = i + 3
    elseif op == 'R' then
      redis.call('HDEL', key, field); i = i + 2
    elseif op == 'T' then
      taken = redis.call('HGET', key, field) or false
      if taken then redis.call('HDEL', key, field) end
      i = i + 2
    else
      local ok = redis.pcall('HINCRBY', key, field, ARGV[i + 2])
      if type(ok) == 'table' and ok.err then
        restore(key)
        if string.find(ok.err, 'overflow') then return {'e', 'overflow:' .. name} end
        return {'e', 'integer:' .. name}
      end
      i = i + 3
    end
  end
  local size = z
  for _, field in ipairs(order) do
    local old = saved[field]
    if old then size = size - (#field - 2) - #old end
    local len = redis.call('HSTRLEN', key, field)
    if len > 0 then size = size + (#field - 2) + len end
  end
  if ARGV[B + 13] ~= '' and size > tonumber(ARGV[B + 13]) then
    restore(key)
    return {'e', 'size:' .. int(size) .. ':' .. ARGV[B + 13]}
  end
  return nil, size
end
";

/// Applies a delta, and on a rotation swaps the token hash, in one step.
///
/// `KEYS[1]` the session. `ARGV`: 1 inline, 2 prefix, 3 handle, 4 the token hash,
/// 5 the new token hash (empty: no rotation), 6 the generation (inline: the one the
/// login expects, empty for none; cluster: the one [`ADMIT`] saw), 7 the cap's
/// maximum (empty: none) or, on a cluster, the admission number, 8 the cap policy
/// (`r` reject new, `e` evict oldest), then from 9 the delta (see `delta_args`).
///
/// Returns `false` when the session is gone (or holds another token, or expired at
/// `now`), `{'e', detail}` for a refused delta, `{'r', reason, ...}` for a refused
/// login, else `{evicted handles, the principal before, the hash's fields, the
/// value the delta's last take removed (nil: none)}`.
pub(crate) static WRITE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(format!(
        "{PRELUDE}{ADMIT_INLINE}{FENCED}{DATA}
local key, inline, prefix, handle = KEYS[1], ARGV[1] == '1', ARGV[2], ARGV[3]
local B = 9
local now = tonumber(ARGV[B])
local f = redis.call('HMGET', key, 'k', 'i', 'a', 'p', 'z', 'fp', 'fg', 'fq', 'bt', 'be', 'bf')
if f[1] ~= ARGV[4] then return false end
local idle, abs = tonumber(f[2]), tonumber(f[3])
if deadline(idle, abs) <= now then return false end
local bind = ARGV[B + 16]
if bind == 'R' and f[9] then return {{'e', 'device:bound'}} end
if bind == 'F' then
  if not f[9] then return {{'e', 'device:unbound'}} end
  if f[9] ~= ARGV[B + 17] then return {{'e', 'device:key'}} end
  if f[10] ~= ARGV[B + 18] then return {{'e', 'device:epoch'}} end
end
local before = f[4]
local mode, principal = ARGV[B + 2], ARGV[B + 3]
if mode == '=' and not inline then
  local why = fenced(f[6], f[7], f[8], principal, ARGV[6], ARGV[7])
  if why then return {{'r', why}} end
end
local refused, size = apply_data(key, B, tonumber(f[5]) or 0)
if refused then return refused end
local evicted = {{}}
if mode == '=' and inline then
  refused, evicted = admit(prefix, principal, handle, ARGV[B], ARGV[6], ARGV[7], ARGV[8])
  if refused then restore(key); return refused end
end
if mode == '=' then redis.call('HSET', key, 'p', principal)
elseif mode == '-' then redis.call('HDEL', key, 'p') end
if ARGV[B + 14] ~= '' then redis.call('HSET', key, 'au', ARGV[B + 14])
elseif mode == '-' or (mode == '=' and before ~= principal) then redis.call('HDEL', key, 'au') end
if ARGV[B + 15] ~= '' then redis.call('HSET', key, 'ro', ARGV[B + 15]) end
if mode ~= '' or bind == 'E' then redis.call('HDEL', key, 'bt', 'be', 'bk', 'bg', 'bf') end
if bind == 'R' then
  redis.call('HSET', key, 'bt', ARGV[B + 17], 'bk', ARGV[B + 18], 'be', '0', 'bg', ARGV[B + 19], 'bf', ARGV[B + 19])
elseif bind == 'F' then
  redis.call('HINCRBY', key, 'be', 1)
  if tonumber(ARGV[B + 19]) > tonumber(f[11]) then redis.call('HSET', key, 'bf', ARGV[B + 19]) end
end
if ARGV[B + 4] == '1' then redis.call('HSET', key, 'r', '1')
elseif ARGV[B + 4] == '0' then redis.call('HDEL', key, 'r') end
if ARGV[B + 5] == '1' then
  if ARGV[B + 6] ~= '' then redis.call('HSET', key, 'ip', ARGV[B + 6]) else redis.call('HDEL', key, 'ip') end
  if ARGV[B + 7] ~= '' then redis.call('HSET', key, 'ua', ARGV[B + 7]) else redis.call('HDEL', key, 'ua') end
end
local a, i = abs, idle
if ARGV[B + 8] ~= '' then
  a = tonumber(ARGV[B + 8])
  if i > a then i = a end
end
if ARGV[B + 9] ~= '' then
  local l = tonumber(redis.call('HGET', key, 'l'))
  if ARGV[B + 11] == '' or l <= tonumber(ARGV[B + 11]) then
    if tonumber(ARGV[B + 9]) > l then redis.call('HSET', key, 'l', ARGV[B + 9]) end
    i = tonumber(ARGV[B + 10])
    if i > a then i = a end
  end
end
if a ~= abs or i ~= idle then
  redis.call('HSET', key, 'a', int(a), 'i', int(i))
  redis.call('PEXPIREAT', key, int(deadline(i, a) + grace))
end
if ARGV[5] ~= '' then redis.call('HSET', key, 'k', ARGV[5]) end
if size ~= (tonumber(f[5]) or 0) then redis.call('HSET', key, 'z', int(size)) end
redis.call('HINCRBY', key, 'v', 1)
if inline then
  local after = before
  if mode == '=' then after = principal elseif mode == '-' then after = false end
  if before and before ~= after then redis.call('ZREM', index_key(prefix, before), handle) end
  if after and (mode == '=' or a ~= abs) then redis.call('ZADD', index_key(prefix, after), int(a), handle) end
end
return {{evicted, before or '', redis.call('HGETALL', key), taken}}"
    ))
});

/// An increment and nothing else (a counter request): guard, the increment under
/// `pcall`, the data bound, the touch, the version; the counter's value (as Redis
/// holds it, exact) and the version back — two numbers. Three commands when no
/// touch is due and the value's length does not change: one `HMGET` for the guard,
/// the bound and the old value, the `HINCRBY`, and the version's `HINCRBY`.
///
/// `KEYS[1]` the session. `ARGV`: 1 the token hash, 2 now, 3 the field (`d:<name>`),
/// 4 by, 5 the data bound (empty: none), 6 last seen and 7 the idle deadline of the
/// touch (empty: no touch), 8 the touch's due-by time (the touch is skipped when the
/// session was seen after it; empty: always due). Returns `false` when gone, `{'e', detail}` when refused
/// (nothing changed), or `{value, version}`.
pub(crate) static INCREMENT: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(format!(
        "{PRELUDE}
local key, field = KEYS[1], ARGV[3]
local f = redis.call('HMGET', key, 'k', 'i', 'a', 'z', 'l', field)
if f[1] ~= ARGV[1] then return false end
local idle, abs = tonumber(f[2]), tonumber(f[3])
if deadline(idle, abs) <= tonumber(ARGV[2]) then return false end
local old = f[6]
local ok = redis.pcall('HINCRBY', key, field, ARGV[4])
if type(ok) == 'table' and ok.err then
  if string.find(ok.err, 'overflow') then return {{'e', 'overflow:' .. string.sub(field, 3)}} end
  return {{'e', 'integer:' .. string.sub(field, 3)}}
end
-- A Lua number (a double) holds the reply exactly below 2^53; past it, the text.
local value
if ok < 9007199254740992 and ok > -9007199254740992 then value = int(ok) else value = redis.call('HGET', key, field) end
local z = tonumber(f[4]) or 0
local size = z + #value
if old then size = size - #old else size = size + #field - 2 end
if ARGV[5] ~= '' and size > tonumber(ARGV[5]) then
  if old then redis.call('HSET', key, field, old) else redis.call('HDEL', key, field) end
  return {{'e', 'size:' .. int(size) .. ':' .. ARGV[5]}}
end
if size ~= z then redis.call('HSET', key, 'z', int(size)) end
if ARGV[6] ~= '' and (ARGV[8] == '' or tonumber(f[5]) <= tonumber(ARGV[8])) then
  local i = tonumber(ARGV[7])
  if i > abs then i = abs end
  if tonumber(ARGV[6]) > tonumber(f[5]) then
    redis.call('HSET', key, 'l', ARGV[6], 'i', int(i))
  else
    redis.call('HSET', key, 'i', int(i))
  end
  redis.call('PEXPIREAT', key, int(i + grace))
end
return {{value, redis.call('HINCRBY', key, 'v', 1)}}"
    ))
});

/// Inserts a session unless its key holds one.
///
/// `KEYS[1]` the session. `ARGV`: 1 inline, 2 prefix, 3 handle, 4 the generation
/// (as for [`WRITE`]), 5 the cap's maximum or the admission number, 6 the cap
/// policy, 7 now, 8 when the hash expires (its deadline plus the grace), 9 the principal (empty: anonymous), 10 the absolute
/// deadline, then field/value pairs.
///
/// Returns `0` when the key is taken, `{'r', reason, ...}` for a refused login, or
/// `{1, evicted handles}`.
pub(crate) static CREATE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(format!(
        "{PRELUDE}{ADMIT_INLINE}{FENCED}
local key, inline, prefix, handle, principal = KEYS[1], ARGV[1] == '1', ARGV[2], ARGV[3], ARGV[9]
if redis.call('EXISTS', key) == 1 then
  local f = redis.call('HMGET', key, 'k', 'fp', 'fg', 'fq')
  if f[1] then return 0 end
  local why = principal ~= '' and fenced(f[2], f[3], f[4], principal, ARGV[4], ARGV[5])
  if why then return {{'r', why}} end
  redis.call('DEL', key)
end
local evicted = {{}}
if principal ~= '' and inline then
  local refused
  refused, evicted = admit(prefix, principal, nil, ARGV[7], ARGV[4], ARGV[5], ARGV[6])
  if refused then return refused end
end
redis.call('HSET', key, unpack(ARGV, 11))
redis.call('PEXPIREAT', key, ARGV[8])
if principal ~= '' and inline then redis.call('ZADD', index_key(prefix, principal), ARGV[10], handle) end
return {{1, evicted}}"
    ))
});

/// Moves the idle deadline of a live session. `KEYS[1]` the session. `ARGV`: the
/// token hash, now, last seen, the idle deadline. `1` touched, `0` gone.
pub(crate) static TOUCH: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(format!(
        "{PRELUDE}
local f = redis.call('HMGET', KEYS[1], 'k', 'i', 'a', 'l')
if f[1] ~= ARGV[1] then return 0 end
local a = tonumber(f[3])
if deadline(tonumber(f[2]), a) <= tonumber(ARGV[2]) then return 0 end
local i = tonumber(ARGV[4])
if i > a then i = a end
if tonumber(ARGV[3]) > tonumber(f[4]) then redis.call('HSET', KEYS[1], 'l', ARGV[3]) end
redis.call('HSET', KEYS[1], 'i', int(i))
redis.call('PEXPIREAT', KEYS[1], int(i + grace))
return 1"
    ))
});

/// Deletes a session. `KEYS[1]` the session. `ARGV`: 1 inline, 2 prefix, 3 handle,
/// 4 the token hash (empty: whatever token it holds — revoke by handle). Returns
/// `{deleted, principal}`.
pub(crate) static DELETE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(format!(
        "{PRELUDE}
local f = redis.call('HMGET', KEYS[1], 'k', 'p')
if not f[1] or (ARGV[4] ~= '' and f[1] ~= ARGV[4]) then return {{0, ''}} end
redis.call('DEL', KEYS[1])
if f[2] and ARGV[1] == '1' then redis.call('ZREM', index_key(ARGV[2], f[2]), ARGV[3]) end
return {{1, f[2] or ''}}"
    ))
});

/// Deletes a session expired at `now`. `KEYS[1]` the session. `ARGV`: 1 inline,
/// 2 prefix, 3 handle, 4 now. Returns `{1, principal}` when it was deleted (or held
/// no session), `{0, ''}` when it is live.
pub(crate) static PURGE_ONE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(format!(
        "{PRELUDE}
local f = redis.call('HMGET', KEYS[1], 'k', 'i', 'a', 'p')
if not f[1] then return {{0, ''}} end
if deadline(tonumber(f[2]), tonumber(f[3])) > tonumber(ARGV[4]) then return {{0, ''}} end
redis.call('DEL', KEYS[1])
if f[4] and ARGV[1] == '1' then redis.call('ZREM', index_key(ARGV[2], f[4]), ARGV[3]) end
return {{1, f[4] or ''}}"
    ))
});

/// "Log out everywhere" on standalone Redis, one step: moves the generation on
/// (defeating logins in flight) and deletes every session of the principal but
/// `except`. `KEYS`: the index, the principal's meta hash. `ARGV`: prefix,
/// principal, except (empty: none). Returns how many sessions it deleted.
pub(crate) static REVOKE_ALL: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(format!(
        "{PRELUDE}
redis.call('HINCRBY', KEYS[2], 'g', 1)
local total = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[3] then
    local key = session_key(ARGV[1], m)
    local f = redis.call('HMGET', key, 'k', 'p')
    if f[1] and f[2] == ARGV[2] then redis.call('DEL', key); total = total + 1 end
    redis.call('ZREM', KEYS[1], m)
  end
end
return total"
    ))
});

/// A cluster login's admission, run on the principal's slot before the session is
/// written: the generation check, the cap (victims by index score, the oldest
/// absolute deadline first, then the earliest admitted), pruning, and the new
/// member's entry in the index. A cluster index scores a member by its absolute
/// deadline (ms) times 1,024 plus its admission number modulo 1,024 (exact in a
/// double until the year 2255), so that a login admitted again after an eviction
/// fenced it ranks after those admitted meanwhile at the same deadline.
///
/// `KEYS`: the index, the principal's meta hash. `ARGV`: 1 now, 2 handle, 3 its
/// score (absolute deadline), 4 the generation expected (empty: none), 5 the cap's
/// maximum (empty: none), 6 the policy. Returns `{'r', reason, ...}` or
/// `{generation, admission number, was already a member, victims}`.
///
/// Victims stay in the index until the store has ended them: a later admission
/// counts them too, so concurrent admissions may end more sessions than needed but
/// never leave more than the cap. The admission number orders admissions of the
/// principal. A victim that was still on its way (admitted, its session not yet
/// written) is fenced with `fq` = this admission's number; a revoke-all fences every
/// member with `fg` = the new generation; the session write refuses a login whose
/// admission a fence postdates.
pub(crate) static ADMIT: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
local g = redis.call('HGET', KEYS[2], 'g') or '0'
if ARGV[4] ~= '' and g ~= ARGV[4] then return {'r', 'credentials'} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', (tonumber(ARGV[1]) + 1) * 1024))
local had = redis.call('ZSCORE', KEYS[1], ARGV[2])
local victims = {}
if ARGV[5] ~= '' then
  local limit = tonumber(ARGV[5])
  local others = redis.call('ZCARD', KEYS[1])
  if had then others = others - 1 end
  if others >= limit then
    if ARGV[6] == 'r' then return {'r', 'cap', ARGV[5]} end
    local n = others + 1 - math.max(limit, 1)
    for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
      if n == 0 then break end
      if m ~= ARGV[2] then victims[#victims + 1] = m; n = n - 1 end
    end
  end
end
local q = redis.call('HINCRBY', KEYS[2], 'q', 1)
redis.call('ZADD', KEYS[1], 'GT', string.format('%d', tonumber(ARGV[3]) * 1024 + q % 1024), ARGV[2])
return {g, q, had and 1 or 0, victims}".to_owned(),
    )
});

/// Ends a cluster session for a revoke-all or a cap eviction, or fences its handle
/// when it is not (yet) the principal's, so that a login of it already admitted
/// cannot finish. `KEYS[1]` the session. `ARGV`: 1 principal, 2 the fence field
/// (`fg` or `fq`), 3 its value, 4 how long a fence of a handle with no session lives
/// (ms), 5 `only` to fence a handle with no session and leave any session alone.
/// Returns `1` deleted, `0` fenced, `2` left alone.
pub(crate) static END_OR_FENCE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
local f = redis.call('HMGET', KEYS[1], 'k', 'p', 'fp', ARGV[2])
if f[1] and ARGV[5] == 'only' then return 2 end
if f[1] and f[2] == ARGV[1] then redis.call('DEL', KEYS[1]); return 1 end
if f[3] == ARGV[1] and f[4] and tonumber(f[4]) >= tonumber(ARGV[3]) then return 0 end
if f[3] ~= ARGV[1] then redis.call('HDEL', KEYS[1], 'fg', 'fq') end
redis.call('HSET', KEYS[1], 'fp', ARGV[1], ARGV[2], ARGV[3])
if not f[1] then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 0"
            .to_owned(),
    )
});

/// Cluster "log out everywhere", first step: moves the generation on and returns it
/// with the index's members. `KEYS`: the index, the principal's meta hash.
pub(crate) static BUMP: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
local g = redis.call('HINCRBY', KEYS[2], 'g', 1)
return {g, redis.call('ZRANGE', KEYS[1], 0, -1)}"
            .to_owned(),
    )
});

/// Indexes a session under a label pair (see [`hallpass::label`]): the label key is a
/// sorted set of handles scored by each session's absolute deadline, expiring with
/// its last session. Run before the write that sets the label, with a provisional
/// score no session outlives, and again after it with the session's own deadline.
///
/// `KEYS[1]` the label key. `ARGV`: 1 handle, 2 score (Unix milliseconds), 3 now, 4
/// the grace past a deadline the key is kept. Returns nothing.
pub(crate) static LABEL_INDEX: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then redis.call('PEXPIREAT', KEYS[1], string.format('%d', tonumber(top[2]) + tonumber(ARGV[4]))) end
return 0"
            .to_owned(),
    )
});

#[cfg(test)]
mod tests {
    use super::PRELUDE;

    /// The grace the scripts add to every TTL is the one the store adds on create.
    #[test]
    fn the_scripts_grace_is_the_stores() {
        assert!(PRELUDE.contains(&format!("local grace = {}\n", crate::TTL_GRACE_MS)));
    }
}

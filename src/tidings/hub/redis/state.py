"""Where the cluster's shared state lives in Redis, and the Lua scripts that change it.

Every key of one app carries the hash tag ``{app_id}``, so each script touches a single slot and
runs atomically even on Redis Cluster; that is what makes "first join" and "last leave" exact.
Counts are kept per node as well as in total, so a dead node's share can be subtracted.

Per app ``A`` (``P`` is the configured prefix, ``N`` a node id):

- ``P:{A}:conns``   hash  node -> open connections, ``#`` -> total
- ``P:{A}:subs``    hash  channel -> subscriptions cluster-wide (the occupied channel list)
- ``P:{A}:subs:N``  hash  channel -> subscriptions on node N
- ``P:{A}:pu:<ch>`` hash  user -> sockets in the presence channel, cluster-wide
- ``P:{A}:pi:<ch>`` hash  user -> user_info (JSON) of the first socket that joined
- ``P:{A}:pn:N``    hash  "<ch>\\n<user>" -> sockets of that member on node N
- ``P:{A}:users``   hash  user -> signed-in sockets cluster-wide
- ``P:{A}:un:N``    hash  user -> signed-in sockets on node N
- ``P:{A}:cache:<ch>`` string, the cache channel's last event, expiring with its TTL
- ``P:{A}:gone:<ch>`` and ``P:{A}:gone:<ch>\\n<user>`` strings, departure marks: the channel
  was vacated / the member removed within the webhook vacate delay (``Adapter.confirm_departures``)

Per node: ``P:node:N`` (heartbeat, expires after node_timeout), ``P:node:N:apps`` (the apps whose
state holds a share of N), ``P:reap:N`` (lock of the node cleaning up after N); ``P:nodes`` is
the set of nodes, ``P:epoch`` tells whether Redis lost its data since a node registered.
"""

from __future__ import annotations


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes = f"{prefix}:nodes"
        self.epoch = f"{prefix}:epoch"

    def app(self, app_id: str) -> str:
        return f"{self.prefix}:{{{app_id}}}:"

    def node(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    def node_apps(self, node: str) -> str:
        return f"{self.prefix}:node:{node}:apps"

    def reap_lock(self, node: str) -> str:
        return f"{self.prefix}:reap:{node}"

    def cache(self, app_id: str, channel: str) -> str:
        return f"{self.app(app_id)}cache:{channel}"

    def departure(self, app_id: str, channel: str, user_id: str | None) -> str:
        # Channel names have no newline, so a channel's mark and its members' never collide.
        suffix = "" if user_id is None else f"\n{user_id}"
        return f"{self.app(app_id)}gone:{channel}{suffix}"

    # Pub/sub topics need no hash tag: classic PUBLISH reaches every subscriber of the cluster.
    def channel_topic(self, app_id: str, channel: str) -> bytes:
        return f"{self.prefix}:{app_id}:c:{channel}".encode()

    def user_topic(self, app_id: str, user_id: str) -> bytes:
        return f"{self.prefix}:{app_id}:u:{user_id}".encode()

    def watch_topic(self, app_id: str, user_id: str) -> bytes:
        return f"{self.prefix}:{app_id}:w:{user_id}".encode()

    def node_topic(self, node: str) -> bytes:
        return f"{self.prefix}:n:{node}".encode()


# KEYS[1] app base; ARGV node, max_connections (<= 0: unlimited). 1 if admitted, else 0.
ADD_CONNECTION = """
local conns = KEYS[1] .. 'conns'
local limit = tonumber(ARGV[2])
if limit > 0 and tonumber(redis.call('HGET', conns, '#') or '0') >= limit then return 0 end
redis.call('HINCRBY', conns, ARGV[1], 1)
redis.call('HINCRBY', conns, '#', 1)
return 1
"""

# KEYS[1] app base; ARGV node.
REMOVE_CONNECTION = """
local conns = KEYS[1] .. 'conns'
if redis.call('HINCRBY', conns, ARGV[1], -1) <= 0 then redis.call('HDEL', conns, ARGV[1]) end
if redis.call('HINCRBY', conns, '#', -1) <= 0 then redis.call('HDEL', conns, '#') end
return 1
"""

# KEYS[1] app base; ARGV node, channel, count, presence limit (-1: none), claim departure
# marks (1/0), then (user, sockets, user_info) triples.
# Adds ``count`` subscriptions of this node (and its members) to the channel; an occupied
# channel and each added member claim (delete) their departure mark.
# Returns {total, occupied, refused, channel returned, n, (added user, returned) * n,
# members (user, info)...}.
JOIN = """
local base, node, channel = KEYS[1], ARGV[1], ARGV[2]
local count, limit, claim = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local pu, pi, pn = base .. 'pu:' .. channel, base .. 'pi:' .. channel, base .. 'pn:' .. node
local gone = base .. 'gone:' .. channel
local added = {}
local presence = #ARGV > 5
if presence then
  for i = 6, #ARGV, 3 do
    local user = ARGV[i]
    if limit >= 0 and redis.call('HEXISTS', pu, user) == 0 and redis.call('HLEN', pu) >= limit then
      return {0, 0, 1}
    end
  end
  for i = 6, #ARGV, 3 do
    local user, sockets = ARGV[i], tonumber(ARGV[i + 1])
    if redis.call('HINCRBY', pu, user, sockets) == sockets then
      redis.call('HSET', pi, user, ARGV[i + 2])
      table.insert(added, user)
    end
    redis.call('HINCRBY', pn, channel .. '\\n' .. user, sockets)
  end
end
redis.call('HINCRBY', base .. 'subs:' .. node, channel, count)
local total = redis.call('HINCRBY', base .. 'subs', channel, count)
local occupied = total == count
local result = {total, occupied and 1 or 0, 0, 0, #added}
if occupied and claim then result[4] = redis.call('DEL', gone) end
for _, user in ipairs(added) do
  table.insert(result, user)
  table.insert(result, claim and redis.call('DEL', gone .. '\\n' .. user) or 0)
end
if presence then
  for _, value in ipairs(redis.call('HGETALL', pi)) do table.insert(result, value) end
end
return result
"""

# KEYS[1] app base; ARGV node, channel, user ('' for non-presence), departure mark TTL in ms
# (0: no marks). A vacated channel and a removed member leave a departure mark.
# Returns {total left, vacated, member removed}.
LEAVE = """
local base, node, channel, user = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local ttl = tonumber(ARGV[4])
local removed = 0
if user ~= '' then
  local pu, pn = base .. 'pu:' .. channel, base .. 'pn:' .. node
  local field = channel .. '\\n' .. user
  if redis.call('HINCRBY', pn, field, -1) <= 0 then redis.call('HDEL', pn, field) end
  if redis.call('HINCRBY', pu, user, -1) <= 0 then
    redis.call('HDEL', pu, user)
    redis.call('HDEL', base .. 'pi:' .. channel, user)
    removed = 1
    if ttl > 0 then redis.call('SET', base .. 'gone:' .. field, 1, 'PX', ttl) end
  end
end
local mine = base .. 'subs:' .. node
if redis.call('HINCRBY', mine, channel, -1) <= 0 then redis.call('HDEL', mine, channel) end
local total = redis.call('HINCRBY', base .. 'subs', channel, -1)
if total <= 0 then
  redis.call('HDEL', base .. 'subs', channel)
  if ttl > 0 then redis.call('SET', base .. 'gone:' .. channel, 1, 'PX', ttl) end
  return {0, 1, removed}
end
return {total, 0, removed}
"""

# KEYS[1] app base; ARGV node, user, count, watched users...
# Returns {came online (1/0), then 1/0 per watched user}.
SIGN_IN = """
local base, node, user, count = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
redis.call('HINCRBY', base .. 'un:' .. node, user, count)
local first = redis.call('HINCRBY', base .. 'users', user, count) == count and 1 or 0
local result = {first}
for i = 4, #ARGV do table.insert(result, redis.call('HEXISTS', base .. 'users', ARGV[i])) end
return result
"""

# KEYS[1] app base; ARGV node, user. 1 when that was the user's last socket in the cluster.
SIGN_OUT = """
local base, node, user = KEYS[1], ARGV[1], ARGV[2]
local mine = base .. 'un:' .. node
if redis.call('HINCRBY', mine, user, -1) <= 0 then redis.call('HDEL', mine, user) end
if redis.call('HINCRBY', base .. 'users', user, -1) <= 0 then
  redis.call('HDEL', base .. 'users', user)
  return 1
end
return 0
"""

# KEYS[1] app base; ARGV node, departure mark TTL in ms (0: none). Subtracts everything a
# dead node held in this app; what that vacates or removes leaves departure marks, as in LEAVE
# (whether the app has webhooks is not known here; unclaimed marks just expire).
# Returns {{channel, user, ...} members removed, {channel...} vacated, {user...} offline}.
REAP = """
local base, node, ttl = KEYS[1], ARGV[1], tonumber(ARGV[2])
local conns = base .. 'conns'
local held = tonumber(redis.call('HGET', conns, node) or '0')
if held ~= 0 then
  redis.call('HDEL', conns, node)
  if redis.call('HINCRBY', conns, '#', -held) <= 0 then redis.call('HDEL', conns, '#') end
end
local removed, vacated, offline = {}, {}, {}
local pn = base .. 'pn:' .. node
local entries = redis.call('HGETALL', pn)
for i = 1, #entries, 2 do
  local field, n = entries[i], tonumber(entries[i + 1])
  local cut = string.find(field, '\\n', 1, true)
  local channel, user = string.sub(field, 1, cut - 1), string.sub(field, cut + 1)
  local pu = base .. 'pu:' .. channel
  if redis.call('HINCRBY', pu, user, -n) <= 0 then
    redis.call('HDEL', pu, user)
    redis.call('HDEL', base .. 'pi:' .. channel, user)
    if ttl > 0 then redis.call('SET', base .. 'gone:' .. field, 1, 'PX', ttl) end
    table.insert(removed, channel)
    table.insert(removed, user)
  end
end
redis.call('DEL', pn)
local mine = base .. 'subs:' .. node
entries = redis.call('HGETALL', mine)
for i = 1, #entries, 2 do
  if redis.call('HINCRBY', base .. 'subs', entries[i], -tonumber(entries[i + 1])) <= 0 then
    redis.call('HDEL', base .. 'subs', entries[i])
    if ttl > 0 then redis.call('SET', base .. 'gone:' .. entries[i], 1, 'PX', ttl) end
    table.insert(vacated, entries[i])
  end
end
redis.call('DEL', mine)
mine = base .. 'un:' .. node
entries = redis.call('HGETALL', mine)
for i = 1, #entries, 2 do
  if redis.call('HINCRBY', base .. 'users', entries[i], -tonumber(entries[i + 1])) <= 0 then
    redis.call('HDEL', base .. 'users', entries[i])
    table.insert(offline, entries[i])
  end
end
redis.call('DEL', mine)
return {removed, vacated, offline}
"""

# KEYS[1] app base; ARGV channel, topic, message prefix, message suffix
# Reads the cluster-wide count and PUBLISHes it in one step, so announcements reach every node
# in Redis's order and the last one carries the final count. The empty origin makes every node,
# the announcing one included, deliver it from the topic.
ANNOUNCE_COUNT = """
local count = tonumber(redis.call('HGET', KEYS[1] .. 'subs', ARGV[1]) or '0')
if count > 0 then
  redis.call('PUBLISH', ARGV[2], '\\n\\n' .. ARGV[3] .. count .. ARGV[4])
end
return count
"""

"""Where the cluster's shared state lives in Redis, and the Lua scripts that change it.

Keys are laid out for Redis Cluster (docs/cluster.md), and the same layout serves one Redis:
everything a channel's transitions touch carries the channel's hash tag ``{A:C}``, so each
script touches one slot and runs atomically; that is what makes "first join" and "last leave"
exact while a cluster spreads channels over its shards. Each script declares every key it
touches (``KEYS``), never one derived inside it: while a slot migrates, Redis routes a script by
its declared keys (or answers TRYAGAIN while they are split between two masters). What spans
an app's channels (the occupied channel list) is never changed by a script: each node keeps
the set of channels it holds, and a read takes their union. Counts are kept per node as well
as in total, so a dead node's share can be subtracted.

Per channel ``C`` of app ``A`` (``P`` is the configured prefix, ``N`` a node id), base
``P:{A:C}:``:

- ``n``     hash  node -> subscriptions on that node, ``#`` -> subscriptions cluster-wide
- ``pu``    hash  user -> sockets in the presence channel, cluster-wide
- ``pi``    hash  user -> user_info (JSON) of the first socket that joined
- ``pn``    hash  "N\\n<user>" -> sockets of that member on node N
- ``cache`` string, the cache channel's last event, expiring with its TTL
- ``gone``  sorted set, departure marks: ``""`` when the channel was vacated, a user id when
  that member was removed, within the webhook vacate delay; the score is when it expires
  (``Adapter.confirm_departures``)
- ``h``, ``hm`` the channel's stream of recent events and its serial (redis/streams.py)
- ``c``     the pub/sub topic of its events (a shard channel of the same slot on a cluster)

Per app, base ``P:{A}:``: ``conns`` (hash node -> open connections, ``#`` -> total), ``users``
(user -> signed-in sockets), ``un:N`` (user -> signed-in sockets on node N) and ``chans:N``
(set of the channels node N has subscribers in). A user's topics: ``P:{A:u:<user>}:u`` (its
events) and ``:w`` (online/offline for watchers).

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

    def channel(self, app_id: str, channel: str) -> str:
        # Channel names cannot hold braces, so the tag is the app and the whole name.
        return f"{self.prefix}:{{{app_id}:{channel}}}:"

    def node_channels(self, app_id: str, node: str) -> str:
        return f"{self.app(app_id)}chans:{node}"

    def node(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    def node_apps(self, node: str) -> str:
        return f"{self.prefix}:node:{node}:apps"

    def reap_lock(self, node: str) -> str:
        return f"{self.prefix}:reap:{node}"

    def cache(self, app_id: str, channel: str) -> str:
        return f"{self.channel(app_id, channel)}cache"

    def channel_state(self, app_id: str, channel: str) -> list[str]:
        """The KEYS of every channel script: subscriptions, presence (sockets, user info,
        sockets per node), departure marks."""
        base = self.channel(app_id, channel)
        return [f"{base}n", f"{base}pu", f"{base}pi", f"{base}pn", f"{base}gone"]

    def app_state(self, app_id: str, node: str) -> list[str]:
        """The KEYS of every app script: connections, signed-in users, and node ``node``'s
        sign-ins and channel set."""
        base = self.app(app_id)
        return [f"{base}conns", f"{base}users", f"{base}un:{node}", f"{base}chans:{node}"]

    def stream(self, app_id: str, channel: str) -> list[str]:
        """The KEYS of the stream scripts: the channel's recent events and its serial."""
        base = self.channel(app_id, channel)
        return [f"{base}h", f"{base}hm"]

    def channel_topic(self, app_id: str, channel: str) -> bytes:
        return f"{self.channel(app_id, channel)}c".encode()

    def user_topic(self, app_id: str, user_id: str) -> bytes:
        return f"{self.prefix}:{{{app_id}:u:{user_id}}}:u".encode()

    def watch_topic(self, app_id: str, user_id: str) -> bytes:
        return f"{self.prefix}:{{{app_id}:u:{user_id}}}:w".encode()

    def node_topic(self, node: str) -> bytes:
        return f"{self.prefix}:n:{node}".encode()


# The departure marks of a channel's ``gone`` set: ``mark`` notes one for ``ttl`` ms (and lets
# the expired ones go), ``claim`` takes one back: 1 if it was there and alive.
MARKS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function mark(gone, member, ttl)
  redis.call('ZADD', gone, now + ttl, member)
  redis.call('ZREMRANGEBYSCORE', gone, '-inf', now)
  redis.call('PEXPIRE', gone, ttl)
end
local function claim(gone, member)
  local expires = redis.call('ZSCORE', gone, member)
  if not expires then return 0 end
  redis.call('ZREM', gone, member)
  return tonumber(expires) > now and 1 or 0
end
"""

# App scripts: KEYS ``Keys.app_state`` (conns, users, un:N, chans:N); ARGV[1] is always N.

# ARGV node, max_connections (<= 0: unlimited). 1 if admitted, else 0.
ADD_CONNECTION = """
local conns = KEYS[1]
local limit = tonumber(ARGV[2])
if limit > 0 and tonumber(redis.call('HGET', conns, '#') or '0') >= limit then return 0 end
redis.call('HINCRBY', conns, ARGV[1], 1)
redis.call('HINCRBY', conns, '#', 1)
return 1
"""

# ARGV node.
REMOVE_CONNECTION = """
local conns = KEYS[1]
if redis.call('HINCRBY', conns, ARGV[1], -1) <= 0 then redis.call('HDEL', conns, ARGV[1]) end
if redis.call('HINCRBY', conns, '#', -1) <= 0 then redis.call('HDEL', conns, '#') end
return 1
"""

# ARGV node, user, count, watched users...
# Returns {came online (1/0), then 1/0 per watched user}.
SIGN_IN = """
local users, mine, user, count = KEYS[2], KEYS[3], ARGV[2], tonumber(ARGV[3])
redis.call('HINCRBY', mine, user, count)
local first = redis.call('HINCRBY', users, user, count) == count and 1 or 0
local result = {first}
for i = 4, #ARGV do table.insert(result, redis.call('HEXISTS', users, ARGV[i])) end
return result
"""

# ARGV node, user. 1 when that was the user's last socket in the cluster.
SIGN_OUT = """
local users, mine, user = KEYS[2], KEYS[3], ARGV[2]
if redis.call('HINCRBY', mine, user, -1) <= 0 then redis.call('HDEL', mine, user) end
if redis.call('HINCRBY', users, user, -1) <= 0 then
  redis.call('HDEL', users, user)
  return 1
end
return 0
"""

# ARGV node. Subtracts a dead node's connections and sign-ins, and forgets its channel set
# (its channels were reaped one by one first). Returns {users now offline...}.
REAP_APP = """
local conns, users, mine, node = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local held = tonumber(redis.call('HGET', conns, node) or '0')
if held ~= 0 then
  redis.call('HDEL', conns, node)
  if redis.call('HINCRBY', conns, '#', -held) <= 0 then redis.call('HDEL', conns, '#') end
end
local offline = {}
local entries = redis.call('HGETALL', mine)
for i = 1, #entries, 2 do
  if redis.call('HINCRBY', users, entries[i], -tonumber(entries[i + 1])) <= 0 then
    redis.call('HDEL', users, entries[i])
    table.insert(offline, entries[i])
  end
end
redis.call('DEL', mine, KEYS[4])
return offline
"""

# Channel scripts: KEYS ``Keys.channel_state`` (n, pu, pi, pn, gone).

# ARGV node, count, presence limit (-1: none), claim departure marks (1/0), then (user,
# sockets, user_info) triples. Adds ``count`` subscriptions of this node (and its members) to
# the channel; an occupied channel and each added member claim their departure mark.
# Returns {total, occupied, refused, channel returned, n, (added user, returned) * n,
# members (user, info)...}.
JOIN = (
    MARKS
    + """
local subs, pu, pi, pn, gone = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local node, count = ARGV[1], tonumber(ARGV[2])
local limit, claiming = tonumber(ARGV[3]), ARGV[4] == '1'
local added = {}
local presence = #ARGV > 4
if presence then
  for i = 5, #ARGV, 3 do
    local user = ARGV[i]
    if limit >= 0 and redis.call('HEXISTS', pu, user) == 0 and redis.call('HLEN', pu) >= limit then
      return {0, 0, 1}
    end
  end
  for i = 5, #ARGV, 3 do
    local user, sockets = ARGV[i], tonumber(ARGV[i + 1])
    if redis.call('HINCRBY', pu, user, sockets) == sockets then
      redis.call('HSET', pi, user, ARGV[i + 2])
      table.insert(added, user)
    end
    redis.call('HINCRBY', pn, node .. '\\n' .. user, sockets)
  end
end
redis.call('HINCRBY', subs, node, count)
local total = redis.call('HINCRBY', subs, '#', count)
local occupied = total == count
local result = {total, occupied and 1 or 0, 0, 0, #added}
if occupied and claiming then result[4] = claim(gone, '') end
for _, user in ipairs(added) do
  table.insert(result, user)
  table.insert(result, claiming and claim(gone, user) or 0)
end
if presence then
  for _, value in ipairs(redis.call('HGETALL', pi)) do table.insert(result, value) end
end
return result
"""
)

# ARGV node, user ('' for non-presence), departure mark TTL in ms (0: no marks). A vacated
# channel and a removed member leave a departure mark.
# Returns {total left, vacated, member removed}.
LEAVE = (
    MARKS
    + """
local subs, pu, pi, pn, gone = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local node, user, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local removed = 0
if user ~= '' then
  local field = node .. '\\n' .. user
  if redis.call('HINCRBY', pn, field, -1) <= 0 then redis.call('HDEL', pn, field) end
  if redis.call('HINCRBY', pu, user, -1) <= 0 then
    redis.call('HDEL', pu, user)
    redis.call('HDEL', pi, user)
    removed = 1
    if ttl > 0 then mark(gone, user, ttl) end
  end
end
if redis.call('HINCRBY', subs, node, -1) <= 0 then redis.call('HDEL', subs, node) end
local total = redis.call('HINCRBY', subs, '#', -1)
if total <= 0 then
  redis.call('HDEL', subs, '#')
  if ttl > 0 then mark(gone, '', ttl) end
  return {0, 1, removed}
end
return {total, 0, removed}
"""
)

# ARGV node, departure mark TTL in ms (0: none). Subtracts what a dead node held in this
# channel; what that vacates or removes leaves departure marks, as in LEAVE (whether the app has
# webhooks is not known here; unclaimed marks just expire).
# Returns {vacated (1/0), {users removed...}}.
REAP_CHANNEL = (
    MARKS
    + """
local subs, pu, pi, pn, gone = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local node, ttl = ARGV[1], tonumber(ARGV[2])
local mine = node .. '\\n'
local removed = {}
local entries = redis.call('HGETALL', pn)
for i = 1, #entries, 2 do
  local field = entries[i]
  if string.sub(field, 1, #mine) == mine then
    local user = string.sub(field, #mine + 1)
    redis.call('HDEL', pn, field)
    if redis.call('HINCRBY', pu, user, -tonumber(entries[i + 1])) <= 0 then
      redis.call('HDEL', pu, user)
      redis.call('HDEL', pi, user)
      if ttl > 0 then mark(gone, user, ttl) end
      table.insert(removed, user)
    end
  end
end
local vacated = 0
local held = tonumber(redis.call('HGET', subs, node) or '0')
if held ~= 0 then
  redis.call('HDEL', subs, node)
  if redis.call('HINCRBY', subs, '#', -held) <= 0 then
    redis.call('HDEL', subs, '#')
    if ttl > 0 then mark(gone, '', ttl) end
    vacated = 1
  end
end
return {vacated, removed}
"""
)

# ARGV the mark: '' for the channel's, else the user's. 1 if it was there and alive.
CLAIM = (
    MARKS
    + """
return claim(KEYS[5], ARGV[1])
"""
)

# ARGV topic, message prefix, message suffix, publishing command.
# Reads the cluster-wide count and publishes it in one step, so announcements reach every node
# in Redis's order and the last one carries the final count. The empty origin makes every node,
# the announcing one included, deliver it from the topic.
ANNOUNCE_COUNT = """
local count = tonumber(redis.call('HGET', KEYS[1], '#') or '0')
if count > 0 then
  redis.call(ARGV[4], ARGV[1], '\\n\\n' .. ARGV[2] .. count .. ARGV[3])
end
return count
"""

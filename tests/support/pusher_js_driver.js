#!/usr/bin/env node
// Hosts real pusher-js clients for the Python tests (tests/support/pusher_js.py).
//
// stdin: one JSON command per line, {"id": n, "cmd": "...", ...}.
// stdout: one JSON record per line: {"type": "reply", "id": n, "ok": bool, ...} for commands,
// and unsolicited records for everything the clients observe (events, state changes, errors).
// Every record carries "at" (milliseconds, mod 10^6) to read timings off a failure report.
//
// Authorization and sign-in go through the official Node `pusher` SDK inside pusher-js's
// customHandler hooks, so the tests exercise the Node SDK's signatures as well.
'use strict';

const readline = require('readline');
// The Node build of pusher-js already bundles tweetnacl (encrypted channels); the
// `pusher-js/with-encryption` entry point is the web build and cannot load in Node.
const Pusher = require('pusher-js');
const PusherServer = require('pusher');
// The add-on as tidings ships it (src/tidings/static), for clients created with `recovery`.
const TidingsRecovery = require('../../src/tidings/static/tidings-recovery.js');

Pusher.logToConsole = false;

const clients = new Map();
// Named in-memory Storage objects: two clients sharing one play a page before and after reload.
const storages = new Map();

function storageNamed(name) {
  if (!storages.has(name)) {
    const items = new Map();
    storages.set(name, {
      getItem: (key) => (items.has(key) ? items.get(key) : null),
      setItem: (key, value) => items.set(key, String(value)),
      removeItem: (key) => items.delete(key),
    });
  }
  return storages.get(name);
}

function emit(record) {
  process.stdout.write(JSON.stringify(Object.assign({ at: Date.now() % 1e6 }, record)) + '\n');
}

function sdkFor(app) {
  return new PusherServer({
    appId: app.appId,
    key: app.key,
    secret: app.secret,
    host: app.host,
    port: String(app.port),
    useTLS: false,
    // null would be rejected: only a string or no key at all
    encryptionMasterKeyBase64: app.encryptionMasterKeyBase64 || undefined,
  });
}

// Members is a class holding state pusher-js keeps itself; flatten it to plain JSON.
function membersSnapshot(members) {
  const all = {};
  members.each((member) => {
    all[member.id] = member.info === undefined ? null : member.info;
  });
  return { count: members.count, me: members.me || null, members: all };
}

function plain(value) {
  if (value && typeof value === 'object' && typeof value.each === 'function') {
    return membersSnapshot(value);
  }
  return value === undefined ? null : value;
}

class Client {
  constructor(name, spec) {
    this.name = name;
    this.spec = spec;
    this.sdk = sdkFor(spec.app);
    this.presenceByChannel = new Map();
    this.fixedAuth = new Map(); // channel -> auth data to hand pusher-js instead of signing
    this.boundEvents = new Map(); // channel -> Set of event names recorded with metadata
    const options = Object.assign(
      {
        cluster: 'local',
        wsHost: spec.app.host,
        wsPort: spec.app.port,
        forceTLS: false,
        enabledTransports: ['ws'],
        disableStats: true,
        channelAuthorization: { customHandler: (params, cb) => this.authorize(params, cb) },
        userAuthentication: { customHandler: (params, cb) => this.authenticate(params, cb) },
      },
      spec.options || {},
    );
    this.pusher = new Pusher(spec.app.key, options);
    if (spec.recovery) {
      const { storage, fromStart } = spec.recovery;
      this.recovery = TidingsRecovery.attach(this.pusher, {
        storage: storage ? storageNamed(storage) : undefined,
        fromStart: Boolean(fromStart),
      });
    }
    this.record({ type: 'created' });
    this.watchConnection();
    this.watchUser();
  }

  record(fields) {
    emit(Object.assign({ client: this.name }, fields));
  }

  watchConnection() {
    const connection = this.pusher.connection;
    connection.bind('state_change', ({ previous, current }) => {
      this.record({
        type: 'state',
        previous,
        current,
        socket_id: connection.socket_id || null,
      });
    });
    connection.bind('error', (error) => {
      this.record({ type: 'error', error: plainError(error) });
    });
    connection.bind('message', (message) => {
      if (this.spec.recordMessages) {
        this.record({ type: 'message', message });
      }
      if (message.event === 'pusher:signin_success') {
        this.record({ type: 'signin_success', user_data: message.data.user_data });
      }
    });
  }

  watchUser() {
    const user = this.pusher.user;
    user.bind_global((event, data) => {
      this.record({ type: 'user_event', event, data: plain(data) });
    });
    user.watchlist.bind_global((event, data) => {
      this.record({ type: 'watchlist', event, user_ids: data.user_ids });
    });
  }

  authorize({ socketId, channelName }, callback) {
    if (this.fixedAuth.has(channelName)) {
      callback(null, this.fixedAuth.get(channelName));
      return;
    }
    try {
      let presence;
      if (channelName.startsWith('presence-')) {
        presence = this.presenceByChannel.has(channelName)
          ? this.presenceByChannel.get(channelName)
          : this.spec.presence || undefined;
      }
      callback(null, this.sdk.authorizeChannel(socketId, channelName, presence || undefined));
    } catch (error) {
      this.record({ type: 'auth_failure', channel: channelName, error: String(error) });
      callback(error, null);
    }
  }

  authenticate({ socketId }, callback) {
    try {
      callback(null, this.sdk.authenticateUser(socketId, this.spec.user));
    } catch (error) {
      this.record({ type: 'auth_failure', channel: null, error: String(error) });
      callback(error, null);
    }
  }

  subscribe(channelName, presence, auth) {
    if (presence !== undefined) {
      this.presenceByChannel.set(channelName, presence);
    }
    if (auth !== undefined) {
      this.fixedAuth.set(channelName, auth);
    }
    const channel = this.pusher.subscribe(channelName);
    if (!channel.__recorded) {
      channel.__recorded = true;
      channel.bind_global((event, data) => {
        const bound = this.boundEvents.get(channelName);
        if (bound && bound.has(event)) {
          return; // recorded by the bound handler, with its metadata
        }
        this.record({ type: 'event', channel: channelName, event, data: plain(data) });
      });
    }
    return channel;
  }

  bind(channelName, event) {
    const channel = this.pusher.channel(channelName) || this.subscribe(channelName);
    if (!this.boundEvents.has(channelName)) {
      this.boundEvents.set(channelName, new Set());
    }
    this.boundEvents.get(channelName).add(event);
    channel.bind(event, (data, metadata) => {
      this.record({
        type: 'event',
        channel: channelName,
        event,
        data: plain(data),
        metadata: metadata || null,
      });
    });
  }
}

function plainError(error) {
  if (error && typeof error === 'object') {
    // Handshake refusals arrive wrapped: {type: 'WebSocketError', error: {type, data}}.
    const cause = error.error && typeof error.error === 'object' ? error.error : {};
    return {
      type: error.type || null,
      data: error.data || cause.data || null,
      message: String(cause.message || cause.type || error.error || ''),
    };
  }
  return { type: null, data: null, message: String(error) };
}

function client(command) {
  const found = clients.get(command.client);
  if (!found) {
    throw new Error(`no client named ${command.client}`);
  }
  return found;
}

async function sdkResponse(promise) {
  try {
    const response = await promise;
    return { status: response.status, body: await response.text() };
  } catch (error) {
    if (error && error.status !== undefined) {
      return { status: error.status, body: error.body || String(error) };
    }
    throw error;
  }
}

const commands = {
  create(command) {
    if (clients.has(command.client)) {
      throw new Error(`client ${command.client} already exists`);
    }
    clients.set(command.client, new Client(command.client, command.spec));
    return null;
  },
  subscribe(command) {
    client(command).subscribe(command.channel, command.presence, command.auth);
    return null;
  },
  unsubscribe(command) {
    client(command).pusher.unsubscribe(command.channel);
    return null;
  },
  bind(command) {
    client(command).bind(command.channel, command.event);
    return null;
  },
  trigger(command) {
    const channel = client(command).pusher.channel(command.channel);
    if (!channel) {
      throw new Error(`not subscribed to ${command.channel}`);
    }
    // A list of payloads goes out in one tick, as a burst the rate limit can see.
    const payloads = command.burst ? command.data : [command.data];
    const sent = payloads.map((data) => channel.trigger(command.event, data));
    return command.burst ? sent : sent[0];
  },
  members(command) {
    const channel = client(command).pusher.channel(command.channel);
    return channel && channel.members ? membersSnapshot(channel.members) : null;
  },
  channel_state(command) {
    const channel = client(command).pusher.channel(command.channel);
    if (!channel) {
      return null;
    }
    return {
      subscribed: channel.subscribed,
      subscriptionPending: channel.subscriptionPending,
      subscriptionCount: channel.subscriptionCount === undefined ? null : channel.subscriptionCount,
    };
  },
  position(command) {
    const found = client(command);
    return found.recovery ? found.recovery.position(command.channel) : null;
  },
  signin(command) {
    client(command).pusher.signin();
    return null;
  },
  connection(command) {
    const connection = client(command).pusher.connection;
    return {
      state: connection.state,
      socket_id: connection.socket_id || null,
      // pusher-js's pending reconnect (ConnectionManager.retryTimer, set by retryIn() and
      // cleared when it fires or on disconnect()): whether it will try to connect again.
      retry_scheduled: Boolean(connection.retryTimer),
    };
  },
  connect(command) {
    client(command).pusher.connect();
    return null;
  },
  disconnect(command) {
    client(command).pusher.disconnect();
    return null;
  },
  async sdk(command) {
    const sdk = sdkFor(command.app);
    const args = command.args;
    switch (command.method) {
      case 'trigger':
        return sdkResponse(sdk.trigger(args[0], args[1], args[2], args[3]));
      case 'sendToUser':
        return sdkResponse(sdk.sendToUser(args[0], args[1], args[2]));
      case 'get':
        return sdkResponse(sdk.get({ path: args[0], params: args[1] || {} }));
      case 'terminateUserConnections':
        return sdkResponse(sdk.terminateUserConnections(args[0]));
      default:
        throw new Error(`unknown SDK method ${command.method}`);
    }
  },
};

async function handle(line) {
  let command;
  try {
    command = JSON.parse(line);
  } catch (error) {
    emit({ type: 'reply', id: null, ok: false, error: `bad command line: ${line}` });
    return;
  }
  const handler = commands[command.cmd];
  try {
    if (!handler) {
      throw new Error(`unknown command ${command.cmd}`);
    }
    const result = await handler(command);
    emit({ type: 'reply', id: command.id, ok: true, result: result === undefined ? null : result });
  } catch (error) {
    emit({ type: 'reply', id: command.id, ok: false, error: String((error && error.stack) || error) });
  }
}

const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line.trim()) {
    handle(line);
  }
});
// The test process going away (stdin closed) ends every client with it.
input.on('close', () => {
  for (const each of clients.values()) {
    each.pusher.disconnect();
  }
  setTimeout(() => process.exit(0), 50);
});
emit({
  type: 'ready',
  versions: {
    pusherJs: require('pusher-js/package.json').version,
    pusher: require('pusher/package.json').version,
  },
});

/* tidings-recovery: nothing missed after a reconnect, for unchanged pusher-js code.
 *
 * TidingsRecovery.attach(pusher, { storage: sessionStorage })
 *
 * On channels the tidings server keeps a history for (docs/history.md), every event carries a
 * serial and an epoch. This add-on remembers the last serial delivered per channel (in
 * `storage` too, if given, so a reload resumes), asks for what was missed with
 * `tidings:replay` after every re-subscription, and hands the missed events to the channel's
 * own bindings, in order, dropping any serial already delivered. `fromStart: true` replays
 * everything the server keeps on a channel's first subscription (a page that rebuilds its view
 * from the history). `channel.bind("tidings:replay_done", ({ complete }) => ...)` tells whether
 * the server still had everything (`complete: false`: some events are gone for good).
 *
 * No dependencies: a plain script (sets globalThis.TidingsRecovery, or module.exports under
 * CommonJS); tidings-recovery.mjs is the ES module around it.
 */
(function (root) {
  'use strict';

  var KEY_PREFIX = 'tidings-recovery:';
  var MARK = '__tidingsRecovery';
  var RETRY_MS = 1000;

  // pusher-js keeps only event, channel, data and user_id of a frame, so the serial is read
  // off the raw frame just before pusher-js dispatches it (synchronously) to the channel.
  function stampOf(raw) {
    if (typeof raw !== 'string' || raw.indexOf('"serial"') < 0) return null;
    try {
      var frame = JSON.parse(raw);
      if (typeof frame.serial === 'number' && typeof frame.epoch === 'string') {
        return { channel: frame.channel, serial: frame.serial, epoch: frame.epoch };
      }
    } catch (error) {
      // not JSON: pusher-js reports it; nothing to note here
    }
    return null;
  }

  function attach(pusher, options) {
    if (pusher[MARK]) return pusher[MARK];
    options = options || {};
    var storage = options.storage || null;
    var fromStart = Boolean(options.fromStart);
    var positions = {}; // channel -> { serial, epoch } of the last event delivered
    var replays = {}; // channel -> { held: events held back while its replay runs, request }
    var early = {}; // channel -> kept events that came before its subscription succeeded
    var stamp = null; // the serial and epoch of the frame being dispatched

    function position(name) {
      if (!(name in positions) && storage) {
        var stored = null;
        try {
          stored = JSON.parse(storage.getItem(KEY_PREFIX + name) || 'null');
        } catch (error) {
          // unreadable: start afresh
        }
        var valid = stored && typeof stored.serial === 'number' && typeof stored.epoch === 'string';
        positions[name] = valid ? stored : null;
      }
      return positions[name] || null;
    }

    function remember(name, value) {
      positions[name] = value;
      if (!storage) return;
      try {
        if (value) storage.setItem(KEY_PREFIX + name, JSON.stringify(value));
        else storage.removeItem(KEY_PREFIX + name);
      } catch (error) {
        // storage full or refused: the in-memory position still covers reconnects
      }
    }

    function deliver(name, handle, held) {
      var seen = position(name);
      if (seen && seen.epoch === held.stamp.epoch && held.stamp.serial <= seen.serial) return;
      remember(name, { serial: held.stamp.serial, epoch: held.stamp.epoch });
      handle(held.event);
    }

    function replay(name, after, epoch) {
      var request = { after: after };
      if (epoch) request.epoch = epoch;
      replays[name] = { held: [], request: request };
      pusher.send_event('tidings:replay', request, name);
    }

    function release(name, handle, epoch) {
      var running = replays[name];
      delete replays[name];
      var held = running ? running.held : [];
      held.sort(function (a, b) {
        return a.stamp.serial - b.stamp.serial;
      });
      for (var i = 0; i < held.length; i++) {
        if (epoch === undefined || held[i].stamp.epoch === epoch) deliver(name, handle, held[i]);
      }
    }

    function refused(name, handle, event) {
      var running = replays[name];
      var message = String((event.data && event.data.message) || '');
      if (message.indexOf('rate limit') >= 0 || message.indexOf('out of reach') >= 0) {
        // Worth asking again in a moment; live events stay held so the order is kept.
        setTimeout(function () {
          if (replays[name] === running) pusher.send_event('tidings:replay', running.request, name);
        }, RETRY_MS);
        return;
      }
      release(name, handle); // refused for good: deliver what was held, as pusher-js would
      handle(event);
    }

    function resubscribed(name, current) {
      if (!current) {
        remember(name, null); // the server keeps no history here (any more)
        return;
      }
      var seen = position(name);
      if (seen) replay(name, seen.serial, seen.epoch);
      else if (fromStart) replay(name, 0, current.epoch);
      else remember(name, { serial: current.serial, epoch: current.epoch });
    }

    function replayed(channel, name, handle, event) {
      var data = event.data || {};
      release(name, handle, data.epoch);
      var seen = position(name);
      if (typeof data.epoch === 'string' && (!seen || seen.epoch !== data.epoch)) {
        // History restarted and nothing of the new life was delivered: resume from its end.
        remember(name, { serial: data.last || 0, epoch: data.epoch });
      }
      // Straight to the bindings: an encrypted channel would try to decrypt it.
      channel.emit(event.event, data);
    }

    function wrap(channel) {
      if (!channel || channel[MARK]) return channel;
      channel[MARK] = true;
      var name = channel.name;
      var original = channel.handleEvent;
      var handle = function (event) {
        original.call(channel, event);
      };
      channel.handleEvent = function (event) {
        var current = stamp && stamp.channel === name ? stamp : null;
        if (event.event === 'pusher_internal:subscription_succeeded') {
          handle(event);
          var before = early[name] || [];
          delete early[name];
          resubscribed(name, current);
          // A cluster node may deliver a few events just before it confirms a subscription:
          // they join the replay, or are checked against where the history stood.
          if (replays[name]) replays[name].held = before.concat(replays[name].held);
          else for (var i = 0; i < before.length; i++) deliver(name, handle, before[i]);
        } else if (event.event === 'tidings:replay_done') {
          replayed(channel, name, handle, event);
        } else if (event.event === 'pusher:error' && replays[name]) {
          refused(name, handle, event);
        } else if (!current) {
          handle(event); // not a kept event: as pusher-js would
        } else if (replays[name]) {
          replays[name].held.push({ stamp: current, event: event });
        } else if (!channel.subscribed) {
          (early[name] = early[name] || []).push({ stamp: current, event: event });
        } else {
          deliver(name, handle, { stamp: current, event: event });
        }
      };
      return channel;
    }

    function hookTransport() {
      var connection = pusher.connection.connection;
      var transport = connection && connection.transport;
      if (!transport || transport[MARK]) return;
      transport[MARK] = true;
      var emit = transport.emit;
      transport.emit = function (eventName, message) {
        if (eventName !== 'message') return emit.apply(this, arguments);
        var outer = stamp;
        stamp = stampOf(message && message.data);
        try {
          return emit.apply(this, arguments);
        } finally {
          stamp = outer;
        }
      };
    }

    var subscribe = pusher.subscribe;
    pusher.subscribe = function () {
      return wrap(subscribe.apply(pusher, arguments));
    };
    var unsubscribe = pusher.unsubscribe;
    pusher.unsubscribe = function (name) {
      // Subscribing again on this page starts afresh, as with plain pusher-js; what storage
      // holds stays, so a page unsubscribing as it unloads still resumes after a reload.
      delete replays[name];
      delete early[name];
      positions[name] = null;
      return unsubscribe.apply(pusher, arguments);
    };
    pusher.allChannels().forEach(wrap);
    pusher.connection.bind('connected', hookTransport);
    hookTransport();

    var handle = {
      position: function (name) {
        var seen = position(name);
        return seen ? { serial: seen.serial, epoch: seen.epoch } : null;
      },
    };
    pusher[MARK] = handle;
    return handle;
  }

  var TidingsRecovery = { attach: attach };
  if (typeof module === 'object' && module && module.exports) module.exports = TidingsRecovery;
  root.TidingsRecovery = TidingsRecovery;
})(typeof globalThis !== 'undefined' ? globalThis : this);

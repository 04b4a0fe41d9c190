-- wrk script for bench/wrk.py: replays pre-signed Pusher HTTP API requests, prints one JSON line.
--
--   wrk -c 32 -t 1 -d 10s --latency -s bench/wrk_pusher.lua URL -- REQUESTS CHECK [SENDS FROM TO]
--
-- REQUESTS: raw HTTP requests (signed by bench/wrk.py), each "<flag><request>" and ended by a NUL
--   byte. Flag "0": an ordinary request; "1": also log its send time; "2": the drain request.
--   With one request and no SENDS it is sent as wrk's static request (no Lua per request).
--   Otherwise request() cycles through the ordinary and logged ones in file order, in three
--   phases by CLOCK_MONOTONIC: before FROM (warm-up), from FROM to TO (measured: flagged sends
--   are logged), and after TO (drain: only the drain request, which reaches no subscriber, so
--   that every trigger that counts was answered before wrk stops).
-- CHECK: "1" adds a response() hook that counts non-2xx statuses, bodies containing "error"
--   (soketi answers API errors with 200) and "Connection: close" answers, at some cost per
--   response; "0" leaves them to wrk (it counts only statuses >= 400 there).
-- SENDS: logged send times go to SENDS.<thread number> as "index sec nsec" lines; index counts
--   ordinary and logged requests from 0 in file order; the clock is CLOCK_MONOTONIC, which
--   Python's time.perf_counter_ns reads on Linux. FROM and TO are in nanoseconds of it.
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   threads[#threads + 1] = thread
end

-- Per-thread counters: globals, so that done() can read them with thread:get().
checked, bad_status, error_bodies, closes, logged = 0, 0, 0, 0, 0
sent_warmup, sent_measured, sent_drain = 0, 0, 0

local function read_requests(path)
   local file = assert(io.open(path, "rb"))
   local data = file:read("*a")
   file:close()
   local pool, flags, drain, at = {}, {}, nil, 1
   while at <= #data do
      local stop = string.find(data, "\0", at, true) or (#data + 1)
      if stop > at then
         local flag, raw = string.sub(data, at, at), string.sub(data, at + 1, stop - 1)
         if flag == "2" then
            drain = raw
         else
            flags[#pool + 1] = flag == "1"
            pool[#pool + 1] = raw
         end
      end
      at = stop + 1
   end
   assert(#pool > 0, "no requests in " .. path)
   return pool, flags, drain
end

local function response_hook(status, headers, body)
   checked = checked + 1
   if status < 200 or status > 299 then
      bad_status = bad_status + 1
   end
   if string.find(body, '"error"', 1, true) then
      error_bodies = error_bodies + 1
   end
   local connection = headers["Connection"] or headers["connection"]
   if connection and string.lower(connection) == "close" then
      closes = closes + 1
   end
end

local function nanoseconds(clock)
   ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
   return tonumber(clock.tv_sec) * 1e9 + tonumber(clock.tv_nsec)
end

function init(args)
   local pool, flags, drain = read_requests(args[1])
   if args[2] == "1" then
      response = response_hook
   end
   if #pool == 1 and not args[3] then
      local raw = pool[1]
      wrk.format = function()
         return raw
      end
      return
   end
   local log = nil
   if args[3] then
      log = assert(io.open(args[3] .. "." .. tostring(id or 0), "w"))
      log:setvbuf("full", 1048576)
   end
   -- Doubles hold nanoseconds of CLOCK_MONOTONIC exactly for 104 days of uptime.
   local from, to = tonumber(args[4]) or 0, tonumber(args[5]) or math.huge
   local clock = ffi.new("bench_timespec")
   local count, index, verified = #pool, 0, false
   request = function()
      if not verified then
         verified = true -- wrk calls request() once to check the request parses; not sent
         return pool[1]
      end
      local now = nanoseconds(clock)
      if now >= to and drain then
         sent_drain = sent_drain + 1
         return drain
      end
      index = index + 1
      if index > count then
         index = 1
      end
      if now < from then
         sent_warmup = sent_warmup + 1
      elseif now < to then
         sent_measured = sent_measured + 1
         if log and flags[index] then
            log:write(index - 1, " ", tonumber(clock.tv_sec), " ", tonumber(clock.tv_nsec), "\n")
            logged = logged + 1
         end
      else
         sent_drain = sent_drain + 1
      end
      return pool[index]
   end
end

function done(summary, latency, requests)
   local totals = {
      checked = 0,
      bad_status = 0,
      error_bodies = 0,
      closes = 0,
      logged = 0,
      sent_warmup = 0,
      sent_measured = 0,
      sent_drain = 0,
   }
   for _, thread in ipairs(threads) do
      for name, value in pairs(totals) do
         totals[name] = value + (tonumber(thread:get(name)) or 0)
      end
   end
   local e = summary.errors
   local parts = {
      string.format('"duration_us":%.0f,"requests":%.0f,"bytes":%.0f', summary.duration,
         summary.requests, summary.bytes),
      string.format('"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}',
         e.connect, e.read, e.write, e.status, e.timeout),
      string.format('"latency_us":{"min":%.0f,"max":%.0f,"mean":%.1f,"stdev":%.1f,"p50":%.0f,'
         .. '"p90":%.0f,"p99":%.0f,"p99.9":%.0f}', latency.min, latency.max, latency.mean,
         latency.stdev, latency:percentile(50), latency:percentile(90), latency:percentile(99),
         latency:percentile(99.9)),
      string.format('"cpu_s":%.4f,"threads":%d', os.clock(), #threads),
   }
   for name, value in pairs(totals) do
      parts[#parts + 1] = string.format('"%s":%.0f', name, value)
   end
   io.write("BENCH-WRK-JSON {" .. table.concat(parts, ",") .. "}\n")
   io.flush()
end

-- wrk script of bench/ingest.bench.ts: sends pre-built, pre-signed requests from a file, each once,
-- counts 2xx against everything else, and stops after a given number of responses.
--   wrk -t1 -c50 -d600s --latency -s bench/ingest-wrk.lua http://127.0.0.1:PORT -- FILE COUNT
-- FILE holds records "<byte length>\n<raw HTTP request>" (bench/wrk.ts writes it); it must hold at
-- least COUNT + connections requests, so that none is sent twice. When COUNT responses have arrived the
-- thread prints one line "SIGPOST-DONE {json}" and stops; the caller then sends SIGINT to end wrk, whose
-- done() prints "SIGPOST-SUMMARY {json}" (latency percentiles in µs, wrk's own error counts).
-- One wrk thread only (-t1): the counters live in that thread's Lua state.
local ffi = require('ffi')
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } sigpost_timespec;
int clock_gettime(int clock_id, sigpost_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local ts = ffi.new('sigpost_timespec')
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local requests, total = {}, 0
local stop_after = 0
local sent, ok, other = 0, 0, 0
local first_us, sample
local wrapped = false
local finished = false

function init(args)
  local file = assert(io.open(args[1], 'rb'))
  while true do
    local length = file:read('*l')
    if not length then break end
    total = total + 1
    requests[total] = file:read(tonumber(length))
  end
  file:close()
  stop_after = tonumber(args[2])
  assert(total > 0 and stop_after and stop_after > 0, 'usage: -- FILE COUNT')
end

function request()
  if not first_us then first_us = now_us() end
  sent = sent + 1
  local i = sent
  if i > total then
    -- More requests than the file holds: they repeat from here on (reported, and a failure).
    wrapped = true
    i = (i - 1) % total + 1
  end
  return requests[i]
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format('\\u%04x', c:byte()) end) .. '"'
end

function response(status, headers, body)
  if finished then return end
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    other = other + 1
    if not sample then sample = tostring(status) .. ' ' .. (body or ''):sub(1, 400) end
  end
  if ok + other >= stop_after then
    finished = true
    local seconds = (now_us() - first_us) / 1e6
    io.stdout:write(string.format(
      'SIGPOST-DONE {"ok":%d,"other":%d,"sent":%d,"seconds":%.6f,"wrapped":%s,"sample":%s}\n',
      ok, other, sent, seconds, tostring(wrapped), sample and json_string(sample) or 'null'))
    io.stdout:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests_stats)
  local e = summary.errors
  io.stdout:write(string.format(
    'SIGPOST-SUMMARY {"requests":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f,' ..
      '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
  io.stdout:flush()
end

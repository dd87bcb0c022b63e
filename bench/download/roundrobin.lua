-- wrk script of bench/download.sh: GET the request paths listed one a line
-- in the file named by the first script argument, in turn, and print a
-- machine-readable summary at the end.
--
--   wrk -c 64 -t 2 -d 30s -s bench/download/roundrobin.lua http://127.0.0.1:PORT -- paths.txt 32
--
-- The second argument is the connections per thread (-c / -t). With as
-- many paths as connections, each connection's first request takes its
-- own path (its own download grant, for Freight), since thread t starts
-- at path t * per + 1. No response() function:
-- wrk would then keep every 2 GiB body in memory.

local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local paths = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  if #paths == 0 then error("no paths in " .. args[1]) end
  local per = tonumber(args[2]) or 0
  i = ((tid or 0) * per) % #paths
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT bytes=%d duration_us=%d requests=%d status_errors=%d connect_errors=%d read_errors=%d write_errors=%d\n",
    summary.bytes, summary.duration, summary.requests, e.status, e.connect, e.read, e.write))
end

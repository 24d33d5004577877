-- wrk script for bench/run.py: the demo server's three pages in turn.
local paths = {"/", "/api/primes", "/api/report"}
local i = 0

request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end

-- bench/assign.lua - wrk script for bench/assign.sh: POST /api/v1/assign with a distinct
-- user id on every request ("b<run>-<thread>-<counter>"), so that exposure logging writes
-- one new row per request instead of hitting the primary key of an earlier one.
--
-- Arguments (after `--` on the wrk command line):
--   1  Bearer key ("-" for none)
--   2  log_exposure: "true" or "false"
--   3  experiment key
--   4  run tag (keeps ids distinct between runs against the same data dir)
--   5  path (default /api/v1/assign)
--   6  returning-user pool per thread (default 0: a new user every request); N > 0 cycles
--      through N users per thread, as a service that assigns returning users does
-- The same script drives nginx, which ignores the body, so both see identical requests.

local threads = {}
local counter = 1

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   local key = args[1] or "-"
   log_exposure = args[2] or "false"
   experiment = args[3] or "bench"
   tag = args[4] or "0"
   path = args[5] or "/api/v1/assign"
   pool = tonumber(args[6] or "0") or 0
   if pool > 0 then
      tag = "r" -- the same users in the warm-up and the run
   end
   headers = { ["Content-Type"] = "application/json" }
   if key ~= "-" then
      headers["Authorization"] = "Bearer " .. key
   end
   prefix = string.format('{"user_id":"b%s-%d-', tag, tid)
   suffix = string.format('","attributes":{"country":"NL"},"experiments":["%s"],"log_exposure":%s}',
                          experiment, log_exposure)
end

function request()
   counter = counter + 1
   local id = counter
   if pool > 0 then
      id = counter % pool
   end
   return wrk.format("POST", path, headers, prefix .. id .. suffix)
end

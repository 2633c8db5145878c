-- Capture authorized payments (taken with manual capture) in full, each exactly once: no body,
-- so each capture takes all that is authorized, under a capture id the platform draws.
-- Arguments: payment id prefix (24 characters of a UUID), first index, how many, thread count.

local prefix, next_index, last_index, step

function init(args)
   prefix, step = args[1], tonumber(args[4])
   next_index = tonumber(args[2]) + thread_index
   last_index = tonumber(args[2]) + tonumber(args[3]) - 1
end

function request()
   if next_index > last_index then
      count("exhausted")
      wrk.thread:stop()
   end
   local path = format("/payments/%s%012x/capture", prefix, next_index)
   next_index = next_index + step
   return wrk.format("POST", path, JSON)
end

function response(status, headers, body)
   if status == 200 and body:find('"ok":true', 1, true) then
      count("captures")
   end
end

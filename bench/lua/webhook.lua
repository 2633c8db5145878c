-- POST a signed "paid" webhook for payments stored as initiated, each exactly once.
-- Arguments: external id prefix, first index, how many, thread count, webhook secret.
-- Thread t takes indices first + t, first + t + threads, ... so no payment is moved twice.

local prefix, next_index, last_index, step, secret

function init(args)
   prefix, step, secret = args[1], tonumber(args[4]), args[5]
   next_index = tonumber(args[2]) + thread_index
   last_index = tonumber(args[2]) + tonumber(args[3]) - 1
end

function request()
   if next_index > last_index then
      count("exhausted")
      wrk.thread:stop()
   end
   local body = format('{"external_id":"%s%d","status":"paid"}', prefix, next_index)
   next_index = next_index + step
   return wrk.format("POST", "/external/json-webhook", webhook_headers(secret, body), body)
end

function response(status, headers, body)
   if status == 200 and body:find('"changed":true', 1, true) then
      count("transitions")
   elseif status == 200 then
      count("repeats")
   end
end

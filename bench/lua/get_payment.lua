-- GET a stored payment with its history, picked at random among those the bench refunded.
-- Arguments: payment id prefix (24 characters of a UUID), how many payments there are.

local prefix, total

function init(args)
   prefix, total = args[1], tonumber(args[2])
   seed_from_urandom()
end

function request()
   local path = format("/payments/%s%012x", prefix, random(0, total - 1))
   return wrk.format("GET", path, JSON)
end

function response(status, headers, body)
   if status == 200 then
      count("found")
   end
end

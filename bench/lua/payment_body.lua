-- POST an init-payment body with a fresh payment id to the path given as the first argument.

local path

function init(args)
   path = args[1]
   seed_from_urandom()
end

function request()
   local body = format('{"id":"%s","currency":"AED","amount_fractions":1000}', uuid4())
   return wrk.format("POST", path, JSON, body)
end

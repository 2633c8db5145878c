-- GET /health: the cheapest route the platform serves, through all of its middleware.

local request_text

function request()
   if request_text == nil then
      request_text = wrk.format("GET", "/health")
   end
   return request_text
end

-- The whole life of a payment: init-payment, then the vendor's signed "paid" webhook for it,
-- then a full refund. Each connection sends whatever step is due next in its thread: a refund
-- if a payment is paid, else a webhook if one was initiated, else a new payment.
-- Arguments: the webhook secret, and the merchant the API key belongs to (empty: the open API).
-- A webhook's answer names the payment by the platform's own id, which the script derives from
-- the client's id as the platform does, to refund it by the client's id.

local secret, merchant
local client_ids = {}
-- Two queues per thread, as tables with head and tail positions.
local webhooks, refunds = {}, {}
local webhooks_head, webhooks_tail, refunds_head, refunds_tail = 1, 0, 1, 0

function init(args)
   secret, merchant = args[1], args[2]
   seed_from_urandom()
end

function request()
   if refunds_head <= refunds_tail then
      local payment_id = refunds[refunds_head]
      refunds[refunds_head] = nil
      refunds_head = refunds_head + 1
      return wrk.format("POST", "/refund", JSON, format('{"id":"%s"}', payment_id))
   end
   if webhooks_head <= webhooks_tail then
      local external_id = webhooks[webhooks_head]
      webhooks[webhooks_head] = nil
      webhooks_head = webhooks_head + 1
      local body = format('{"external_id":"%s","status":"paid"}', external_id)
      return wrk.format("POST", "/external/json-webhook", webhook_headers(secret, body), body)
   end
   local body = format('{"id":"%s","currency":"AED","amount_fractions":1000}', uuid4())
   return wrk.format("POST", "/init-payment", JSON, body)
end

function response(status, headers, body)
   if status >= 300 then
      return
   end
   if body:find('"refund":', 1, true) then
      count("flows")
      return
   end
   local paid = body:find('"changed":', 1, true) and body:match('"payment_id":"([^"]+)"')
   if paid then
      refunds_tail = refunds_tail + 1
      refunds[refunds_tail] = client_ids[paid]
      client_ids[paid] = nil
      return
   end
   local initiated = body:match('"external_id":"([^"]+)"')
   if initiated then
      local client_id = body:match('"id":"([^"]+)"')
      client_ids[payment_key(merchant, client_id)] = client_id
      webhooks_tail = webhooks_tail + 1
      webhooks[webhooks_tail] = initiated
   end
end

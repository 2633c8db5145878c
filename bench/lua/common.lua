-- Shared by every bench scenario: thread bookkeeping, UUIDs, HMAC-SHA256 and the result line.
-- wrk runs one Lua state per thread plus one for setup() and done(); the scenario file that
-- follows this one defines request() and, where it needs the answers, response().

local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit, tohex = bit.rshift, bit.lshift, bit.ror, bit.tobit, bit.tohex
local byte, char, format, rep = string.byte, string.char, string.format, string.rep

-- Thread bookkeeping (setup() and done() run in the main state) ---------------------------

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

-- Counters each thread keeps in its own globals; done() adds them up.
counters = {}

local function count(name, by)
   counters[name] = (counters[name] or 0) + (by or 1)
end

-- A fresh random UUID (version 4) per call -------------------------------------------------

local function seed_from_urandom()
   local source = io.open("/dev/urandom", "rb")
   local bytes = source:read(6)
   source:close()
   local seed = 0
   for index = 1, #bytes do
      seed = seed * 256 + byte(bytes, index)
   end
   math.randomseed(seed)
end

local random = math.random

local function uuid4()
   return format(
      "%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
      random(0, 0xffff), random(0, 0xffff), random(0, 0xffff), random(0, 0xfff),
      bor(0x8000, random(0, 0x3fff)), random(0, 0xffff), random(0, 0xffff), random(0, 0xffff)
   )
end

-- HMAC-SHA256 (FIPS 180-4, RFC 2104) on LuaJIT's 32-bit bit operations ----------------------

local K = {
   0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
   0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
   0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
   0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
   0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
   0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
   0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
   0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
for index = 1, 64 do
   K[index] = tobit(K[index])
end

local function sha256(message)
   local length = #message
   local padding = 64 - ((length + 9) % 64)
   if padding == 64 then
      padding = 0
   end
   local bits = length * 8
   message = message .. "\128" .. rep("\0", padding) .. rep("\0", 4)
      .. char(band(rshift(bits, 24), 255), band(rshift(bits, 16), 255),
              band(rshift(bits, 8), 255), band(bits, 255))
   local h0, h1, h2, h3 = tobit(0x6a09e667), tobit(0xbb67ae85), tobit(0x3c6ef372), tobit(0xa54ff53a)
   local h4, h5, h6, h7 = tobit(0x510e527f), tobit(0x9b05688c), tobit(0x1f83d9ab), tobit(0x5be0cd19)
   local w = {}
   for block = 1, #message, 64 do
      for index = 1, 16 do
         local at = block + (index - 1) * 4
         local b1, b2, b3, b4 = byte(message, at, at + 3)
         w[index] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
      end
      for index = 17, 64 do
         local v15, v2 = w[index - 15], w[index - 2]
         local s0 = bxor(ror(v15, 7), ror(v15, 18), rshift(v15, 3))
         local s1 = bxor(ror(v2, 17), ror(v2, 19), rshift(v2, 10))
         w[index] = tobit(w[index - 16] + s0 + w[index - 7] + s1)
      end
      local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
      for index = 1, 64 do
         local s1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
         local choice = bxor(band(e, f), band(bnot(e), g))
         local t1 = h + s1 + choice + K[index] + w[index]
         local s0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
         local majority = bxor(band(a, b), band(a, c), band(b, c))
         h, g, f, e = g, f, e, tobit(d + t1)
         d, c, b, a = c, b, a, tobit(t1 + s0 + majority)
      end
      h0, h1, h2, h3 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d)
      h4, h5, h6, h7 = tobit(h4 + e), tobit(h5 + f), tobit(h6 + g), tobit(h7 + h)
   end
   local words = { h0, h1, h2, h3, h4, h5, h6, h7 }
   local out = {}
   for index = 1, 8 do
      local word = words[index]
      out[index] = char(band(rshift(word, 24), 255), band(rshift(word, 16), 255),
                        band(rshift(word, 8), 255), band(word, 255))
   end
   return table.concat(out)
end

local function xor_pad(key, value)
   local out = {}
   for index = 1, 64 do
      out[index] = char(bxor(byte(key, index) or 0, value))
   end
   return table.concat(out)
end

local function hex(raw)
   local out = {}
   for index = 1, #raw do
      out[index] = format("%02x", byte(raw, index))
   end
   return table.concat(out)
end

-- The vendor's webhook signature: HMAC-SHA256 of "<unix seconds>." .. body, as hex.
local inner_pad, outer_pad

local function webhook_headers(secret, body)
   if inner_pad == nil then
      if #secret > 64 then
         secret = sha256(secret)
      end
      inner_pad, outer_pad = xor_pad(secret, 0x36), xor_pad(secret, 0x5c)
   end
   local timestamp = tostring(os.time())
   local digest = sha256(outer_pad .. sha256(inner_pad .. timestamp .. "." .. body))
   return {
      ["Content-Type"] = "application/json",
      ["X-Webhook-Timestamp"] = timestamp,
      ["X-Webhook-Signature"] = "sha256=" .. hex(digest),
   }
end

-- The platform's own id of a merchant's payment: UUIDv5 (SHA-1, FIPS 180-4) -------------------

local function sha1(message)
   local length = #message
   local padding = 64 - ((length + 9) % 64)
   if padding == 64 then
      padding = 0
   end
   local bits = length * 8
   message = message .. "\128" .. rep("\0", padding) .. rep("\0", 4)
      .. char(band(rshift(bits, 24), 255), band(rshift(bits, 16), 255),
              band(rshift(bits, 8), 255), band(bits, 255))
   local h0, h1, h2 = tobit(0x67452301), tobit(0xefcdab89), tobit(0x98badcfe)
   local h3, h4 = tobit(0x10325476), tobit(0xc3d2e1f0)
   local rol = bit.rol
   local w = {}
   for block = 1, #message, 64 do
      for index = 1, 16 do
         local at = block + (index - 1) * 4
         local b1, b2, b3, b4 = byte(message, at, at + 3)
         w[index] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
      end
      for index = 17, 80 do
         w[index] = rol(bxor(w[index - 3], w[index - 8], w[index - 14], w[index - 16]), 1)
      end
      local a, b, c, d, e = h0, h1, h2, h3, h4
      for index = 1, 80 do
         local f, k
         if index <= 20 then
            f, k = bor(band(b, c), band(bnot(b), d)), 0x5a827999
         elseif index <= 40 then
            f, k = bxor(b, c, d), 0x6ed9eba1
         elseif index <= 60 then
            f, k = bor(band(b, c), band(b, d), band(c, d)), tobit(0x8f1bbcdc)
         else
            f, k = bxor(b, c, d), tobit(0xca62c1d6)
         end
         local t = tobit(rol(a, 5) + f + e + k + w[index])
         e, d, c, b, a = d, c, rol(b, 30), a, t
      end
      h0, h1, h2 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c)
      h3, h4 = tobit(h3 + d), tobit(h4 + e)
   end
   local words = { h0, h1, h2, h3, h4 }
   local out = {}
   for index = 1, 5 do
      local word = words[index]
      out[index] = char(band(rshift(word, 24), 255), band(rshift(word, 16), 255),
                        band(rshift(word, 8), 255), band(word, 255))
   end
   return table.concat(out)
end

-- payments_platform.access: the namespace the platform derives its ids in.
local KEYS_OF_MERCHANTS = "5d0f7c1e3b8a4c529e612f4a8b7d9c30"

local function unhex(text)
   return (text:gsub("..", function(pair) return char(tonumber(pair, 16)) end))
end

-- The id the platform gives the payment `merchant` calls `client_id` (the client's own id when
-- the API is open): what a webhook's answer names.
local function payment_key(merchant, client_id)
   if merchant == nil or merchant == "" then
      return client_id
   end
   local digest = sha1(unhex(KEYS_OF_MERCHANTS) .. merchant .. "/" .. client_id)
   local b = { byte(digest, 1, 16) }
   b[7] = bor(band(b[7], 0x0f), 0x50)
   b[9] = bor(band(b[9], 0x3f), 0x80)
   local hexed = format(rep("%02x", 16), unpack(b))
   return format("%s-%s-%s-%s-%s", hexed:sub(1, 8), hexed:sub(9, 12), hexed:sub(13, 16),
                 hexed:sub(17, 20), hexed:sub(21, 32))
end

-- Client requests: JSON, with the API key when the bench configured one.
local JSON = { ["Content-Type"] = "application/json" }
local api_key = os.getenv("BENCH_API_KEY")
if api_key and api_key ~= "" then
   JSON["Authorization"] = "Bearer " .. api_key
end

-- The result line the bench reads ----------------------------------------------------------

function done(summary, latency, requests)
   local totals = {}
   for _, thread in ipairs(threads) do
      local kept = thread:get("counters")
      for name, value in pairs(kept or {}) do
         totals[name] = (totals[name] or 0) + value
      end
   end
   local parts = {}
   for name, value in pairs(totals) do
      table.insert(parts, format('"%s":%d', name, value))
   end
   local errors = summary.errors
   io.write(format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},'
         .. '"counters":{%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean, table.concat(parts, ",")
   ))
end

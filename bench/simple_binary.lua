-- wrk script: the "simple" request with the binary tensor data extension:
-- a JSON header, then both INT32 [1,16] inputs as raw little-endian bytes
-- (64 each), outputs asked for in binary too.
local function int32le(v)
  if v < 0 then v = v + 4294967296 end
  return string.char(v % 256, math.floor(v / 256) % 256,
                     math.floor(v / 65536) % 256,
                     math.floor(v / 16777216) % 256)
end
local a, b = {}, {}
for i = 0, 15 do
  a[#a + 1] = int32le(i)
  b[#b + 1] = int32le(1)
end
local header = '{"inputs":[' ..
  '{"name":"INPUT0","datatype":"INT32","shape":[1,16],' ..
  '"parameters":{"binary_data_size":64}},' ..
  '{"name":"INPUT1","datatype":"INT32","shape":[1,16],' ..
  '"parameters":{"binary_data_size":64}}],' ..
  '"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}},' ..
  '{"name":"OUTPUT1","parameters":{"binary_data":true}}]}'
wrk.method = "POST"
wrk.path = "/v2/models/simple/infer"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = tostring(#header)
wrk.body = header .. table.concat(a) .. table.concat(b)

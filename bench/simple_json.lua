-- wrk script: POST Triton's "simple" request (two INT32 [1,16] inputs) as
-- plain JSON to /v2/models/simple/infer on every request (keep-alive).
local a, b = {}, {}
for i = 0, 15 do
  a[#a + 1] = tostring(i)
  b[#b + 1] = "1"
end
wrk.method = "POST"
wrk.path = "/v2/models/simple/infer"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[' ..
  '{"name":"INPUT0","datatype":"INT32","shape":[1,16],"data":[' ..
  table.concat(a, ",") .. ']},' ..
  '{"name":"INPUT1","datatype":"INT32","shape":[1,16],"data":[' ..
  table.concat(b, ",") .. ']}]}'

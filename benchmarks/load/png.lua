-- wrk script: POST /api/predict with a PNG body (image/png), the file named by DIGITPARITY_PNG.
local f = assert(io.open(os.getenv("DIGITPARITY_PNG"), "rb"))
local png = f:read("*a")
f:close()
request = function()
  return wrk.format("POST", "/api/predict", { ["Content-Type"] = "image/png" }, png)
end
response = function(status, headers, body)
  if status ~= 200 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
end

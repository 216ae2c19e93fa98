-- wrk script: POST /api/predict with JSON pixels, cycling through 100 real MNIST test images (pixels.json, one
-- {"pixels": [...]} body per line, written by serve.sh).
local bodies = {}
for line in io.lines(os.getenv("DIGITPARITY_BODIES") or "bodies.jsonl") do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/api/predict", { ["Content-Type"] = "application/json" }, bodies[i])
end
-- Any answer but 200 counts as an error.
response = function(status, headers, body)
  if status ~= 200 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
end

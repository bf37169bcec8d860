-- wrk script: POST /v1/retrieve with the same caller and query mix as `copilotguard bench load`.
-- Tokens come from the file named by CG_TOKENS, one "name<TAB>token" line per caller (run.sh writes it).
-- Usage: wrk -t2 -c32 -d15s -s bench/wrk/retrieve.lua http://127.0.0.1:5180

local tokens = {}
for line in io.lines(os.getenv("CG_TOKENS") or "tokens.tsv") do
  local name, token = line:match("^(%S+)\t(%S+)$")
  if name then tokens[name] = token end
end

-- caller, query, purpose, destination (nil = omitted)
local mix = {
  {"carol", "What is the launch plan for the spring campaign?", nil, "internal"},
  {"carol", "How do I reset my password?", nil, nil},
  {"bob", "End-of-day sync discrepancy at the Portland store", "support", "internal"},
  {"bob", "Duplicate line items on the monthly invoice", "support", "internal"},
  {"bob", "How do I rotate an API key?", nil, nil},
  {"alice", "What are the salary band guidelines?", "hr-case", "internal"},
  {"alice", "Parental leave policy", nil, "internal"},
  {"dana", "Follow-up notes for my patients this month", "treatment", "internal"},
  {"erin", "Flagged card transactions at Contoso Retail stores", "fraud-review", "internal"},
  {"paul", "Annual base salary of the support team", "payroll", "internal"},
  {"ticket-agent-for-bob", "How do I set up the VPN on a new laptop?", "ticket-resolution", "internal"},
  {"ticket-agent-for-bob", "Steps to reset a POS terminal", "customer-support", "internal"},
}

-- Built in init: wrk.format does not add the Host header (HTTP/1.1 requires it) when given its own headers.
local requests = {}
function init(args)
  local host = wrk.headers["Host"] or (wrk.host .. ":" .. wrk.port)
  for i, call in ipairs(mix) do
    local token = tokens[call[1]]
    if token == nil then error("no token for " .. call[1] .. " in " .. (os.getenv("CG_TOKENS") or "tokens.tsv")) end
    local body = '{"query":"' .. call[2] .. '","top":5'
    if call[3] then body = body .. ',"purpose":"' .. call[3] .. '"' end
    if call[4] then body = body .. ',"destination":"' .. call[4] .. '"' end
    body = body .. '}'
    requests[i] = wrk.format("POST", "/v1/retrieve", {["Host"] = host, ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
  end
end

-- Any answer other than 200 is an error of the run; print the first one so a broken set-up is obvious.
function response(status, headers, body)
  if status ~= 200 and not reported then
    reported = true
    print("unexpected HTTP " .. status .. ": " .. body:sub(1, 300))
  end
end

local counter = 0
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end

local next_index = 0
function request()
  next_index = next_index + 1
  return requests[((next_index + (offset or 0) * 5) % #requests) + 1]
end

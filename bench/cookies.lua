-- wrk: send each request with the next of the session cookies in the file given
-- after `--`, round-robin (1,000 sessions in bench/run.sh).
local cookies = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then cookies[#cookies + 1] = line end
  end
end

function request()
  i = i % #cookies + 1
  return wrk.format("GET", nil, { ["Cookie"] = cookies[i] })
end

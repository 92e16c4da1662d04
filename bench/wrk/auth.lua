-- GET /auth with "Authorization: Bearer <pass>", cycling through passes signed before the run (forward-auth).
-- wrk args: the path of a file holding one pass per line.
local passes = {}
local next_pass = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then passes[#passes + 1] = line end
  end
end

function request()
  next_pass = next_pass % #passes + 1
  return wrk.format("GET", "/auth", { ["Authorization"] = "Bearer " .. passes[next_pass] })
end

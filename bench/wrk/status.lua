-- GET /status with "Authorization: Bearer <ticket>", cycling through tickets issued before the run.
-- wrk args: the path of a file holding one ticket per line.
local tickets = {}
local next_ticket = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tickets[#tickets + 1] = line end
  end
end

function request()
  next_ticket = next_ticket % #tickets + 1
  return wrk.format("GET", "/status", { ["Authorization"] = "Bearer " .. tickets[next_ticket] })
end

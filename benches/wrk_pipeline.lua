-- wrk script: 16 pipelined GET / per round trip (benches/http_bench.sh).
init = function(args)
  local r = {}
  for i = 1, 16 do
    r[i] = wrk.format(nil, "/")
  end
  req = table.concat(r)
end

request = function()
  return req
end

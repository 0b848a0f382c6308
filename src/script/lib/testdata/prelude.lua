local D
D = function(v)
  local t = type(v)
  if t == 'string' then return string.format('%q', v)
  elseif t == 'number' then return string.format('%.17g', v)
  elseif t == 'table' then
    local ks = {}
    for k in pairs(v) do ks[#ks + 1] = k end
    table.sort(ks, function(a, b) return D(a) < D(b) end)
    local out = {}
    for _, k in ipairs(ks) do out[#out + 1] = '[' .. D(k) .. ']=' .. D(v[k]) end
    return '{' .. table.concat(out, ',') .. '}'
  elseif t == 'userdata' then
    if v == cjson.null then return 'null' end
    return 'userdata'
  end
  return tostring(v)
end
local function R(...)
  local n = select('#', ...)
  local out = {}
  for i = 1, n do out[i] = D((select(i, ...))) end
  return n .. ':' .. table.concat(out, ' ')
end
local function P(f, ...) return R(pcall(f, ...)) end
local function H(s)
  return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end
local function X(h)
  return (string.gsub(h, '%x%x', function(c) return string.char(tonumber(c, 16)) end))
end

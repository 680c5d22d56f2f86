-- Deterministic lua5.4 workload: string and table churn through Lua's allocator hook,
-- which Debian's lua5.4 implements with realloc/free. Output is counts and checksums
-- only; table iteration is done over sorted keys or integer ranges, never pairs() order.

local function checksum(s, acc)
  for i = 1, #s, 7 do acc = (acc * 31 + s:byte(i)) % 1000000007 end
  return acc
end

-- Tables of strings, grown and shrunk.
local acc, live = 0, {}
for i = 1, 200000 do
  local k = (i * 7919) % 30011
  if live[k] then
    acc = checksum(live[k], acc)
    live[k] = nil
  else
    live[k] = string.rep(string.char(97 + i % 26), 1 + i % 61) .. tostring(i)
  end
end
local keys = {}
for k in pairs(live) do keys[#keys + 1] = k end
table.sort(keys)
for _, k in ipairs(keys) do acc = checksum(live[k], acc) end
print("strings", #keys, acc)

-- Growing strings by concatenation and table.concat.
local parts, s = {}, ""
for i = 1, 20000 do
  parts[#parts + 1] = string.format("%05d:%x", i, i * 2654435761 % 4294967296)
  if i % 10 == 0 then s = s .. parts[#parts] end
end
local joined = table.concat(parts, ",")
print("concat", #joined, #s, checksum(joined, checksum(s, 0)))

-- Nested tables (arrays and hashes) churned, then sorted with a comparator.
local rows = {}
local x = 12345
for i = 1, 60000 do
  x = (x * 1103515245 + 12345) % 2147483648
  rows[i] = {id = i, v = x % 100000, tag = "t" .. (x % 97), list = {x % 7, x % 11, x % 13}}
end
table.sort(rows, function(a, b) if a.v ~= b.v then return a.v < b.v end return a.id < b.id end)
local sum = 0
for i = 1, #rows, 13 do sum = (sum + rows[i].id * i + #rows[i].list) % 1000000007 end
print("rows", #rows, rows[1].id, rows[#rows].id, sum)
rows = nil

-- Large strings (well above any small-object size) built and dropped.
local big_total = 0
for i = 1, 40 do
  local b = string.rep("0123456789abcdef", 16384 + i * 1000)  -- 256 KiB .. ~900 KiB
  big_total = big_total + #b + checksum(b:sub(-100), 0)
end
print("big", big_total)

collectgarbage("collect")
print("churn.lua: ok")

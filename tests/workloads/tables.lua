-- Deterministic, table-heavy lua5.4 workload for the whole-process tests in every mode
-- (real_programs_test.py). Lua allocates every table part, string and closure through one
-- realloc-based hook, so this is hash parts growing and shrinking, array parts resized
-- past 64 KiB (the route: a 10000-slot array part is 160 KiB, an 80000-slot one 1.25 MiB),
-- strings interned and collected, and big strings built by table.concat. Output: counts
-- and checksums only; iteration in sorted order or integer ranges, never pairs() order.

local M = 1000000007
local function mix(acc, v) return (acc * 31 + v) % M end
local function strsum(s, acc)
  for i = 1, #s, 13 do acc = mix(acc, s:byte(i)) end
  return mix(acc, #s)
end
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) < type(b)
  end)
  return keys
end

-- 1. Hash parts: a dictionary of string keys grown to 100k entries, then thinned out.
local dict, acc = {}, 0
for i = 1, 60000 do dict["key:" .. ((i * 7919) % 1000003)] = i end
for i = 1, 60000, 3 do dict["key:" .. ((i * 7919) % 1000003)] = nil end
local n = 0
for _, k in ipairs(sorted_keys(dict)) do
  n = n + 1
  acc = mix(strsum(k, acc), dict[k] % 1000)
end
print("dict", n, acc)
dict = nil

-- 2. Array parts: arrays resized up and down, element by element and with table.move.
local arrays, total = {}, 0
for round = 1, 8 do
  local a = {}
  local len = 10000 * round
  for i = 1, len do a[i] = (i * round) % 65521 end
  local b = table.move(a, 1, len, 1, {})
  for i = len, len // 2, -1 do b[i] = nil end
  arrays[round] = b
  total = mix(total, #b + b[#b])
  if round % 3 == 0 then arrays[round - 2] = nil end
end
print("arrays", total)
arrays = nil

-- 3. Tables of tables: records with nested lists, sorted, grouped and regrouped.
local rows, x = {}, 12345
for i = 1, 30000 do
  x = (x * 1103515245 + 12345) % 2147483648
  rows[i] = {id = i, group = "g" .. (x % 211), value = x % 100000,
             tags = {x % 7, x % 11, x % 13, tostring(x % 17)}}
end
local groups = {}
for _, r in ipairs(rows) do
  local g = groups[r.group]
  if not g then g = {members = {}, sum = 0}; groups[r.group] = g end
  g.members[#g.members + 1] = r
  g.sum = (g.sum + r.value) % M
end
acc = 0
for _, name in ipairs(sorted_keys(groups)) do
  local g = groups[name]
  table.sort(g.members, function(a, b)
    if a.value ~= b.value then return a.value < b.value end
    return a.id < b.id
  end)
  acc = mix(mix(acc, #g.members), g.sum)
  acc = mix(acc, g.members[1].id + g.members[#g.members].id)
end
print("groups", #sorted_keys(groups), acc)
rows, groups = nil, nil

-- 4. Big strings: table.concat of many parts (hundreds of KiB), string.rep, gsub.
local big_acc, big_len = 0, 0
for round = 1, 12 do
  local parts = {}
  for i = 1, 5000 * round do parts[i] = string.format("%x", (i * 2654435761) % 4294967296) end
  local s = table.concat(parts, ";")
  local t = s:gsub("[0-3]", "z")
  big_len = big_len + #s + #t
  big_acc = strsum(t, strsum(s, big_acc))
  local r = string.rep("ab", 40000 + round)  -- 80 KiB
  big_acc = strsum(r, big_acc)
end
print("strings", big_len, big_acc)

-- 5. Closures and metatables, collected in full cycles.
local made, hits = 0, 0
for round = 1, 20 do
  local objs = {}
  for i = 1, 3000 do
    local count = i
    local o = setmetatable({}, {__index = function(_, k) hits = hits + 1; return k * count end})
    objs[i] = {o, function() count = count + 1; return count end}
    made = made + 1
  end
  for i = 1, #objs, 17 do hits = hits + objs[i][1][3] % 7 + objs[i][2]() % 5 end
  objs = nil
  if round % 10 == 0 then collectgarbage("collect") end
end
print("closures", made, hits)
collectgarbage("collect")
print("done")

-- wrk script for bench/run.py:  wrk -s bench/scenario.lua URL -- SCENARIO DATAFILE
-- DATAFILE lines: token <TAB> task id <TAB> email <TAB> password (written by bench/run.py).
-- SCENARIO: login | get | mine | activity | summary | summary_v1 | recent | status | comment |
-- create. done() prints one WRK_JSON line. The floor app (bench/floor_app.py) answers get,
-- activity, comment, summary and recent too.

local threads = {}

function setup(thread)
  thread:set("thread_no", #threads)
  threads[#threads + 1] = thread
end

local scenario
local rows = {}
local counter = 0
local statuses = {}
local json = { ["Content-Type"] = "application/json" }
failures = {} -- status code -> count, per thread; read by done()

function init(args)
  scenario = args[1]
  for line in io.lines(args[2]) do
    local token, task, email, password = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.+)$")
    rows[#rows + 1] = { token = token, task = task, email = email, password = password }
  end
  counter = (thread_no or 0) * 7919 -- threads start at different rows
end

local function next_row()
  counter = counter + 1
  return rows[(counter % #rows) + 1]
end

local function authorized(row)
  return { ["Authorization"] = "Bearer " .. row.token, ["Content-Type"] = "application/json" }
end

-- the legacy routes' header, as the original's clients send it: the token without a scheme
local function legacy(row)
  return { ["Authorization"] = row.token }
end

local builders = {
  login = function(row)
    local body = string.format('{"email":"%s","password":"%s"}', row.email, row.password)
    return wrk.format("POST", "/api/v1/auth/login", json, body)
  end,
  get = function(row)
    return wrk.format("GET", "/api/v1/tasks/" .. row.task, authorized(row))
  end,
  mine = function(row)
    return wrk.format("GET", "/api/v1/tasks/mine?limit=50", authorized(row))
  end,
  -- the first page of a task's history (bench/run.py gives each data file task 64+ entries)
  activity = function(row)
    return wrk.format("GET", "/api/v1/tasks/" .. row.task .. "/activity?limit=50", authorized(row))
  end,
  summary = function(row)
    return wrk.format("GET", "/tasks/status_summary", legacy(row))
  end,
  summary_v1 = function(row)
    return wrk.format("GET", "/api/v1/tasks/summary", authorized(row))
  end,
  recent = function(row)
    return wrk.format("GET", "/tasks/recent", legacy(row))
  end,
  -- open <-> in_progress: every order of these moves is allowed, whichever thread sends it.
  status = function(row)
    local target = statuses[row.task] == "in_progress" and "open" or "in_progress"
    statuses[row.task] = target
    local body = string.format('{"status":"%s"}', target)
    return wrk.format("PATCH", "/api/v1/tasks/" .. row.task, authorized(row), body)
  end,
  -- by the task's assignee, on the data file's tasks in turn (as status changes them)
  comment = function(row)
    local body = '{"body":"bench comment: reproduced on staging, looking at the logs next"}'
    return wrk.format("POST", "/api/v1/tasks/" .. row.task .. "/comments", authorized(row), body)
  end,
  create = function(row)
    local body = '{"title":"bench task","priority":"high","labels":["bench"]}'
    return wrk.format("POST", "/api/v1/tasks", authorized(row), body)
  end,
}

function request()
  return builders[scenario](next_row())
end

function response(status, headers, body)
  if status >= 400 then
    failures[tostring(status)] = (failures[tostring(status)] or 0) + 1
  end
end

local function failure_counts()
  local total = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("failures") or {}) do
      total[code] = (total[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(total) do
    parts[#parts + 1] = string.format('"%s":%d', code, n)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,'
      .. '"p50_us":%d,"p99_us":%d,"failures":%s}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), failure_counts()))
end

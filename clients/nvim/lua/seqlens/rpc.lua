-- JSON-RPC 2.0 over LSP framing (Content-Length headers) with a `seqlens serve` child process.
-- Works on Neovim 0.7 (vim.loop, vim.json) and later; replies are dispatched on the main loop.
local uv = vim.loop

local M = {}

local Client = {}
Client.__index = Client

--- Frames a JSON body as the daemon expects it.
function M.frame(body)
  return "Content-Length: " .. #body .. "\r\n\r\n" .. body
end

--- Splits complete frames off the front of `buffer`: returns the bodies and what is left.
function M.deframe(buffer)
  local bodies = {}
  while true do
    local header_end = buffer:find("\r\n\r\n", 1, true)
    if not header_end then break end
    local header = buffer:sub(1, header_end - 1)
    local length = tonumber(header:match("[Cc]ontent%-[Ll]ength:%s*(%d+)"))
    if not length then
      -- Not a header we understand: drop it and look for the next frame.
      buffer = buffer:sub(header_end + 4)
    else
      local body_start = header_end + 4
      if #buffer < body_start + length - 1 then break end
      table.insert(bodies, buffer:sub(body_start, body_start + length - 1))
      buffer = buffer:sub(body_start + length)
    end
  end
  return bodies, buffer
end

--- Starts `cmd` (a list: program and arguments).
--- opts.on_notification(method, params), opts.on_exit(code, signal), opts.env (list of "K=V").
function M.start(cmd, opts)
  opts = opts or {}
  local self = setmetatable({
    next_id = 1,
    pending = {},
    buffer = "",
    stderr_tail = "",
    exited = false,
    exit_code = nil,
    on_notification = opts.on_notification or function() end,
    on_exit = opts.on_exit or function() end,
    sent = {}, -- methods sent, for tests: {method, id}
  }, Client)
  self.stdin = uv.new_pipe(false)
  self.stdout = uv.new_pipe(false)
  self.stderr = uv.new_pipe(false)
  local args = {}
  for i = 2, #cmd do args[#args + 1] = cmd[i] end
  local handle, pid = uv.spawn(cmd[1], {
    args = args,
    stdio = { self.stdin, self.stdout, self.stderr },
    env = opts.env,
  }, function(code, signal)
    self.exited = true
    self.exit_code = code
    self.exit_signal = signal
    for _, pipe in ipairs({ self.stdin, self.stdout, self.stderr }) do
      if not pipe:is_closing() then pipe:close() end
    end
    if self.handle and not self.handle:is_closing() then self.handle:close() end
    vim.schedule(function()
      -- Every request still waiting gets an error.
      for id, callback in pairs(self.pending) do
        self.pending[id] = nil
        callback({ code = -32099, message = "the SeqLens daemon exited (" .. tostring(code) .. ")" }, nil)
      end
      self.on_exit(code, signal)
    end)
  end)
  if not handle then
    for _, pipe in ipairs({ self.stdin, self.stdout, self.stderr }) do pipe:close() end
    error("SeqLens: cannot start " .. tostring(cmd[1]) .. ": " .. tostring(pid))
  end
  self.handle = handle
  self.pid = pid
  self.stdout:read_start(function(err, data)
    if err or not data then return end
    local bodies
    bodies, self.buffer = M.deframe(self.buffer .. data)
    for _, body in ipairs(bodies) do
      vim.schedule(function() self:_dispatch(body) end)
    end
  end)
  self.stderr:read_start(function(_, data)
    if data then self.stderr_tail = (self.stderr_tail .. data):sub(-4000) end
  end)
  return self
end

function Client:_dispatch(body)
  local ok, message = pcall(vim.json.decode, body)
  if not ok or type(message) ~= "table" then return end
  if message.id ~= nil and message.id ~= vim.NIL and message.method == nil then
    local callback = self.pending[message.id]
    self.pending[message.id] = nil
    if callback then
      if message.error ~= nil and message.error ~= vim.NIL then
        callback(message.error, nil)
      else
        callback(nil, message.result)
      end
    end
  elseif message.method then
    self.on_notification(message.method, message.params)
  end
end

function Client:_write(message)
  if self.exited or self.stdin:is_closing() then return false end
  self.stdin:write(M.frame(vim.json.encode(message)))
  return true
end

--- Sends a request; callback(err, result) runs on the main loop. Returns the request id.
function Client:request(method, params, callback)
  local id = self.next_id
  self.next_id = id + 1
  self.pending[id] = callback or function() end
  table.insert(self.sent, { method = method, id = id })
  if not self:_write({ jsonrpc = "2.0", id = id, method = method, params = params or vim.empty_dict() }) then
    self.pending[id] = nil
    vim.schedule(function() (callback or function() end)({ code = -32099, message = "the SeqLens daemon is not running" }) end)
  end
  return id
end

function Client:notify(method, params)
  table.insert(self.sent, { method = method, params = params })
  return self:_write({ jsonrpc = "2.0", method = method, params = params or vim.empty_dict() })
end

--- Asks the daemon to cancel request `id` (it answers that request with -32800).
function Client:cancel(id)
  if self.pending[id] then self:notify("$/cancelRequest", { id = id }) end
end

--- Sends a request and waits for it (processing other events meanwhile): returns err, result.
function Client:request_sync(method, params, timeout_ms)
  local done, err, result = false, nil, nil
  local id = self:request(method, params, function(e, r)
    done, err, result = true, e, r
  end)
  if not vim.wait(timeout_ms or 10000, function() return done end, 10) then
    self.pending[id] = nil
    return { code = -32098, message = method .. ": no answer within " .. (timeout_ms or 10000) .. " ms" }, nil
  end
  return err, result
end

--- `shutdown` then `exit`; kills the process if it has not exited after `timeout_ms`.
function Client:stop(timeout_ms)
  timeout_ms = timeout_ms or 3000
  if self.exited then return self.exit_code end
  self:request_sync("shutdown", nil, timeout_ms)
  self:notify("exit")
  if not self.stdin:is_closing() then self.stdin:close() end
  if not vim.wait(timeout_ms, function() return self.exited end, 10) then
    self.handle:kill("sigkill")
    vim.wait(1000, function() return self.exited end, 10)
  end
  return self.exit_code
end

return M

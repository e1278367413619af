-- SeqLens for Neovim: attributions, generation and token probabilities from a warm `seqlens serve`.
local rpc = require("seqlens.rpc")
local tokens = require("seqlens.tokens")

local M = {}

M.config = {
  binary = "seqlens",           -- the seqlens executable
  model = "default",            -- a transformers folder, a .gguf file or "default"
  method = "saliency",          -- attribution method of :SeqLensAttribute
  method_args = {},             -- per method: methodArgs, e.g. { integrated_gradients = { nSteps = 16 } }
  serve_args = {},              -- extra arguments of `seqlens serve`
  virtual_text = true,          -- show step probabilities as virtual text
}

M.namespace = vim.api.nvim_create_namespace("seqlens")
local MODEL_ID = "seqlens"

local state = {
  client = nil,
  model = nil,        -- model/load result
  current = nil,      -- the running operation: { ids = {...}, kind, token }
  serial = 0,
  buffers = {},       -- per buffer: the last attribution
}
M._state = state
M.events = {}         -- what happened, for tests and :messages: { kind = "...", ... }

local function event(e)
  table.insert(M.events, e)
  if #M.events > 200 then table.remove(M.events, 1) end
end

local function echo(message, group)
  vim.api.nvim_echo({ { message, group } }, false, {})
end

local function define_highlights()
  local attr = { "#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#e6550d", "#d94801", "#a63603", "#7f2704" }
  local attr_cterm = { 230, 223, 222, 216, 215, 209, 208, 202, 166, 130 }
  local prob = { "#d73027", "#f46d43", "#fdae61", "#fee08b", "#ffffbf", "#d9ef8b", "#a6d96a", "#66bd63", "#1a9850", "#006837" }
  local prob_cterm = { 160, 202, 215, 222, 229, 192, 149, 71, 28, 22 }
  for i = 0, 9 do
    local fg = i >= 6 and "#ffffff" or "#000000"
    local cfg = i >= 6 and 15 or 16
    vim.cmd(string.format("highlight default SeqLensAttr%d guibg=%s guifg=%s ctermbg=%d ctermfg=%d", i, attr[i + 1], fg, attr_cterm[i + 1], cfg))
    vim.cmd(string.format("highlight default SeqLensProb%d gui=underline guisp=%s guifg=%s cterm=underline ctermfg=%d", i, prob[i + 1], prob[i + 1], prob_cterm[i + 1]))
  end
  vim.cmd("highlight default link SeqLensSelected Visual")
  vim.cmd("highlight default link SeqLensFocus Search")
  vim.cmd("highlight default link SeqLensVirtualText Comment")
end

local function on_notification(method, params)
  if method == "$/progress" and type(params) == "table" and type(params.value) == "table" then
    local value = params.value
    local text = "SeqLens " .. tostring(params.token):gsub("%-%d+$", "")
    if value.percentage and value.percentage ~= vim.NIL then text = text .. string.format(" %d%%", value.percentage) end
    if value.message and value.message ~= vim.NIL then text = text .. " " .. value.message end
    if value.kind ~= "end" then echo(text) end
  end
end

--- Starts the daemon, initializes it and loads the model (once).
function M.start()
  if state.client and not state.client.exited then return state.client end
  local cmd = { M.config.binary, "serve" }
  for _, a in ipairs(M.config.serve_args) do cmd[#cmd + 1] = a end
  local client = rpc.start(cmd, {
    on_notification = on_notification,
    on_exit = function(code)
      event({ kind = "exit", code = code })
      if state.client and state.client.exited then state.client, state.model = nil, nil end
    end,
  })
  state.client = client
  local err = client:request_sync("initialize", {
    processId = vim.fn.getpid(),
    clientInfo = { name = "seqlens.nvim" },
  }, 10000)
  if err then error("SeqLens: initialize failed: " .. vim.inspect(err)) end
  client:notify("initialized", vim.empty_dict())
  echo("SeqLens: loading " .. M.config.model .. " ...")
  local load_err, model = client:request_sync("model/load", { path = M.config.model, id = MODEL_ID }, 180000)
  if load_err then
    client:stop(2000)
    state.client = nil
    error("SeqLens: cannot load " .. M.config.model .. ": " .. (load_err.message or vim.inspect(load_err)))
  end
  state.model = model
  event({ kind = "started", pid = client.pid })
  return client
end

--- Stops the daemon (shutdown + exit), as VimLeavePre does.
function M.stop()
  if state.client then
    local client = state.client
    state.client, state.model = nil, nil
    local code = client:stop(3000)
    event({ kind = "stopped", code = code })
    return code
  end
end

--- The daemon's process id, or nil.
function M.pid()
  return state.client and not state.client.exited and state.client.pid or nil
end

--- Whether an operation is running.
function M.busy()
  return state.current ~= nil
end

--- Waits until no operation runs (for scripts and tests).
function M.wait(timeout_ms)
  return vim.wait(timeout_ms or 60000, function() return state.current == nil and (state.followups or 0) == 0 end, 10)
end

-- Starts an operation: cancels the running one, then sends `requests` ({method, params} in order)
-- and calls done(results) with every result when all have answered, or fail(err) on the first error.
local function run(kind, requests, done)
  local ok, client = pcall(M.start)
  if not ok then
    vim.api.nvim_err_writeln(tostring(client))
    return
  end
  if state.current then
    local previous = state.current
    for _, id in ipairs(previous.ids) do client:cancel(id) end
    event({ kind = "cancel", of = previous.kind, ids = previous.ids })
  end
  state.serial = state.serial + 1
  local op = { ids = {}, kind = kind, serial = state.serial }
  state.current = op
  local results, remaining, failed = {}, #requests, false
  for i, request in ipairs(requests) do
    local params = request[2]
    if params.workDoneToken == nil and i == 1 then params.workDoneToken = kind .. "-" .. op.serial end
    op.ids[i] = client:request(request[1], params, function(err, result)
      if err then
        if err.code == -32800 then event({ kind = "cancelled", of = kind, id = op.ids[i], code = err.code }) end
        if not failed and state.current == op then
          failed = true
          state.current = nil
          vim.api.nvim_err_writeln("SeqLens " .. kind .. ": " .. tostring(err.message))
        end
        return
      end
      results[i] = result
      remaining = remaining - 1
      if remaining == 0 and not failed then
        if state.current ~= op then
          event({ kind = "stale", of = kind })  -- superseded: its results are not shown
          return
        end
        state.current = nil
        local ok_done, problem = pcall(done, results)
        if not ok_done then vim.api.nvim_err_writeln("SeqLens " .. kind .. ": " .. tostring(problem)) end
        event({ kind = "done", of = kind })
      end
    end)
  end
  event({ kind = "request", of = kind, ids = op.ids })
end

-- The byte range [s, e) of the last visual selection (or of lines line1..line2).
local function selection_range(bufnr, opts)
  local _, starts, lines = tokens.buffer_text(bufnr)
  local mode = vim.fn.visualmode()
  local from, to = vim.fn.getpos("'<"), vim.fn.getpos("'>")
  local use_marks = opts.range and opts.range > 0 and from[2] == opts.line1 and to[2] == opts.line2 and from[2] > 0
  if use_marks and mode == "v" then
    local s = tokens.offset(starts, from[2] - 1, from[3] - 1)
    local last = lines[to[2]] or ""
    local col = math.min(to[3], #last)
    local e = tokens.offset(starts, to[2] - 1, col - 1) + math.max(tokens.char_length(last, col), col > 0 and 1 or 0)
    if col == 0 then e = tokens.offset(starts, to[2] - 1, 0) end
    return s, e
  end
  local line1 = (opts.range and opts.range > 0) and opts.line1 or 1
  local line2 = (opts.range and opts.range > 0) and opts.line2 or #lines
  return tokens.offset(starts, line1 - 1, 0), tokens.offset(starts, line2 - 1, #lines[line2])
end

local function set_mark(bufnr, starts, span, extra)
  local row, col = tokens.position(starts, span[1])
  local end_row, end_col = tokens.position(starts, span[2])
  local opts = vim.tbl_extend("force", { end_row = end_row, end_col = end_col, strict = false }, extra or {})
  return vim.api.nvim_buf_set_extmark(bufnr, M.namespace, row, col, opts)
end

--- Clears SeqLens's highlights in a buffer (the current one by default).
function M.clear(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_clear_namespace(bufnr, M.namespace, 0, -1)
  state.buffers[bufnr] = nil
end

-- The value of each source position: the mean over the selected steps (nil focus), or step `focus`.
local function position_values(a, focus)
  local values = {}
  local steps = a.attr_end - a.attr_start
  for p = 1, a.attr_end - 1 do
    local row = a.matrix[p]
    if type(row) == "table" then
      if focus then
        local v = row[focus]
        if v ~= nil and v ~= vim.NIL then values[p] = v end
      else
        local sum, seen = 0, false
        for k = 1, steps do
          local v = row[k]
          if v ~= nil and v ~= vim.NIL then sum, seen = sum + v, true end  -- unseen positions count as 0
        end
        if seen then values[p] = sum / steps end
      end
    end
  end
  return values
end

local function render_attribution(bufnr, a, focus)
  vim.api.nvim_buf_clear_namespace(bufnr, M.namespace, 0, -1)
  local _, starts = tokens.buffer_text(bufnr)
  local values = position_values(a, focus)
  local buckets = tokens.buckets(values)
  a.marks = {}
  a.focus = focus
  a.values = values
  for p, b in pairs(buckets) do
    local span = a.offsets[p]
    if span[2] > span[1] then
      local id = set_mark(bufnr, starts, span, { hl_group = "SeqLensAttr" .. b, priority = 200 })
      a.marks[#a.marks + 1] = { id = id, position = p - 1, value = values[p], bucket = b }
    end
  end
  -- The selected tokens: underlined, the focused one marked, probabilities as virtual text.
  local inline = vim.fn.has("nvim-0.10") == 1
  local chunks = {}
  for k = 1, a.attr_end - a.attr_start do
    local p = a.attr_start + k
    local span = a.offsets[p]
    local prob = a.probability and a.probability[k]
    local label = prob and prob ~= vim.NIL and string.format("%.2f", prob) or "-"
    local extra = { hl_group = (focus == k) and "SeqLensFocus" or "SeqLensSelected", priority = 150 }
    if M.config.virtual_text and inline then
      extra.virt_text = { { " " .. label, "SeqLensVirtualText" } }
      extra.virt_text_pos = "inline"
    end
    set_mark(bufnr, starts, { span[1], math.max(span[2], span[1]) }, extra)
    chunks[#chunks + 1] = { (k > 1 and " " or "  ") .. vim.trim(tokens.token_bytes(a.target[p].token)) .. " " .. label, "SeqLensVirtualText" }
  end
  if M.config.virtual_text and not inline and #chunks > 0 then
    local last = a.offsets[a.attr_end]
    local row = tokens.position(starts, math.max(last[1], last[2] - 1))
    vim.api.nvim_buf_set_extmark(bufnr, M.namespace, row, 0, { virt_text = chunks, virt_text_pos = "eol" })
  end
end

--- :SeqLensAttribute [method] on the selection: the text before it is the prompt, the selection the
--- forced continuation. opts: {range, line1, line2} as a command gives them, or {start_byte, end_byte}.
function M.attribute(opts)
  opts = opts or {}
  local bufnr = vim.api.nvim_get_current_buf()
  local text = tokens.buffer_text(bufnr)
  local s, e
  if opts.start_byte then s, e = opts.start_byte, opts.end_byte else s, e = selection_range(bufnr, opts) end
  if s <= 0 then
    vim.api.nvim_err_writeln("SeqLens: select text that follows a prompt (the text before the selection)")
    return
  end
  if e <= s then
    vim.api.nvim_err_writeln("SeqLens: the selection is empty")
    return
  end
  local method = (opts.method and opts.method ~= "") and opts.method or M.config.method
  local prompt, generated = text:sub(1, s), text:sub(1, e)
  local params = {
    model = MODEL_ID, inputs = { prompt }, generatedTexts = { generated }, method = method,
    stepScores = { "probability" },
  }
  if M.config.method_args[method] then params.methodArgs = M.config.method_args[method] end
  run("attribute", {
    { "attribute", params },
    { "tokenize", { model = MODEL_ID, texts = { generated }, returnOffsets = true } },
  }, function(results)
    local out = results[1].results[1]
    local tok = results[2].results[1]
    if #tok.ids ~= #out.target then error("the daemon's target tokens and the tokenization differ") end
    for i, t in ipairs(out.target) do
      if t.id ~= tok.ids[i] then error("the daemon's target tokens and the tokenization differ at " .. i) end
    end
    local offsets = {}
    for i, span in ipairs(tok.offsets) do offsets[i] = { span[1], span[2] } end
    local a = {
      offsets = offsets, target = out.target, matrix = out.targetAttributions,
      attr_start = out.attrPosStart, attr_end = out.attrPosEnd, method = method,
      probability = out.stepScores and out.stepScores.probability, range = { s, e },
      changedtick = vim.api.nvim_buf_get_changedtick(bufnr),
    }
    state.buffers[bufnr] = a
    render_attribution(bufnr, a, nil)
    echo(string.format("SeqLens: %s of %d selected token(s) over %d position(s)", method, a.attr_end - a.attr_start, a.attr_start))
  end)
end

--- Re-highlights for the selected token under the cursor (its column of the attribution matrix),
--- or the mean over the selection when the cursor is elsewhere. Run by CursorMoved.
function M.focus_token_at_cursor()
  local bufnr = vim.api.nvim_get_current_buf()
  local a = state.buffers[bufnr]
  if not a then return end
  if vim.api.nvim_buf_get_changedtick(bufnr) ~= a.changedtick then return end
  local _, starts = tokens.buffer_text(bufnr)
  local cursor = vim.api.nvim_win_get_cursor(0)
  local offset = tokens.offset(starts, cursor[1] - 1, cursor[2])
  local focus = nil
  for k = 1, a.attr_end - a.attr_start do
    local span = a.offsets[a.attr_start + k]
    if offset >= span[1] and offset < span[2] then focus = k break end
  end
  if focus ~= a.focus then render_attribution(bufnr, a, focus) end
end

local function colour_probabilities(bufnr, starts, base, spans, probs)
  local marks = {}
  for i, span in ipairs(spans) do
    if span[2] > span[1] then
      local b = tokens.probability_bucket(probs[i])
      local id = set_mark(bufnr, starts, { base + span[1], base + span[2] }, { hl_group = "SeqLensProb" .. b, priority = 200 })
      marks[#marks + 1] = { id = id, probability = probs[i], bucket = b }
    end
  end
  return marks
end

--- :SeqLensGenerate [n]: continues the text up to the cursor (after the character under it) with n
--- greedy tokens and inserts them there, each coloured by its probability.
function M.generate(n, opts)
  opts = opts or {}
  n = tonumber(n) or 20
  local bufnr = vim.api.nvim_get_current_buf()
  local text, starts, lines = tokens.buffer_text(bufnr)
  local cursor = vim.api.nvim_win_get_cursor(0)
  local row, col = cursor[1] - 1, cursor[2]
  local line = lines[row + 1] or ""
  if #line > 0 then col = col + tokens.char_length(line, col + 1) end
  local offset = tokens.offset(starts, row, col)
  local prompt = text:sub(1, offset)
  if prompt == "" then
    vim.api.nvim_err_writeln("SeqLens: nothing to continue")
    return
  end
  run("generate", {
    { "generate", { model = MODEL_ID, inputs = { prompt }, maxNewTokens = n, doSample = false } },
  }, function(results)
    local out = results[1].results[1]
    local inserted = out.text
    vim.api.nvim_buf_set_text(bufnr, row, col, row, col, vim.split(inserted, "\n", { plain = true }))
    local _, new_starts = tokens.buffer_text(bufnr)
    local names, probs, ids = {}, {}, {}
    for i, t in ipairs(out.tokens) do names[i], probs[i], ids[i] = t.token, t.prob, t.id end
    local function finish(spans)
      local marks = colour_probabilities(bufnr, new_starts, offset, spans, probs)
      state.last_generation = { text = inserted, offset = offset, spans = spans, marks = marks, tokens = out.tokens }
      echo(string.format("SeqLens: %d token(s), %s", #out.tokens, out.stopReason or ""))
    end
    local spans = tokens.spans_in_text(inserted, names)
    local covered = 0
    for _, span in ipairs(spans) do covered = covered + (span[2] - span[1]) end
    if covered == #inserted then return finish(spans) end
    -- The text is not the tokens' bytes (bytes that are not UTF-8 became U+FFFD, or special tokens
    -- were skipped): place each token where the decoded text of the tokens up to it stops changing.
    local prefixes = {}
    for i = 1, #ids do prefixes[i] = vim.list_slice(ids, 1, i) end
    state.followups = (state.followups or 0) + 1
    state.client:request("detokenize", { model = MODEL_ID, ids = prefixes, skipSpecialTokens = true }, function(err, result)
      state.followups = state.followups - 1
      if err then return vim.api.nvim_err_writeln("SeqLens: " .. tostring(err.message)) end
      finish(tokens.spans_from_prefixes(inserted, result.texts))
    end)
  end)
end

--- :SeqLensProbabilities on a range (the whole buffer without one): colours each token by its
--- probability under the model given the text before it.
function M.probabilities(opts)
  opts = opts or {}
  local bufnr = vim.api.nvim_get_current_buf()
  local text = tokens.buffer_text(bufnr)
  local s, e = selection_range(bufnr, opts)
  if e <= s then return end
  local function with_prompt(s0)
    run("probabilities", {
      { "attribute", { model = MODEL_ID, inputs = { text:sub(1, s0) }, generatedTexts = { text:sub(1, e) },
        method = "dummy", stepScores = { "probability" } } },
      { "tokenize", { model = MODEL_ID, texts = { text:sub(1, e) }, returnOffsets = true } },
    }, function(results)
      local out, tok = results[1].results[1], results[2].results[1]
      local _, starts = tokens.buffer_text(bufnr)
      vim.api.nvim_buf_clear_namespace(bufnr, M.namespace, 0, -1)
      state.buffers[bufnr] = nil
      local spans, probs = {}, {}
      for k = 1, out.attrPosEnd - out.attrPosStart do
        local span = tok.offsets[out.attrPosStart + k]
        spans[k] = { span[1], span[2] }
        probs[k] = out.stepScores.probability[k]
      end
      state.last_probabilities = { spans = spans, probs = probs, marks = colour_probabilities(bufnr, starts, 0, spans, probs) }
    end)
  end
  if s > 0 then return with_prompt(s) end
  -- From the start of the text: the first token is the prompt.
  local ok, client = pcall(M.start)
  if not ok then return vim.api.nvim_err_writeln(tostring(client)) end
  client:request("tokenize", { model = MODEL_ID, texts = { text:sub(1, e) }, returnOffsets = true }, function(err, result)
    if err then return vim.api.nvim_err_writeln("SeqLens: " .. tostring(err.message)) end
    local first = result.results[1].offsets[1]
    if first and first[2] < e then with_prompt(first[2]) end
  end)
end

--- :SeqLensStatus: the model, memory and requests.
function M.status()
  if not state.client then
    echo("SeqLens: not running (model " .. M.config.model .. ")")
    return
  end
  local err, s = state.client:request_sync("server/status", vim.empty_dict(), 5000)
  if err then return vim.api.nvim_err_writeln("SeqLens: " .. tostring(err.message)) end
  local m = state.model or {}
  local mb = function(b) return (b and b ~= vim.NIL) and string.format("%.0f MB", b / 1e6) or "unlimited" end
  local text = string.format("SeqLens: %s (%s, %s layers) from %s; memory %s of %s; requests running %d, queued %d; pid %d",
    tostring(m.id), tostring(m.architecture), tostring(m.layers), tostring(m.source),
    mb(s.memory and s.memory.residentBytes), mb(s.memory and s.memory.budgetBytes),
    s.requests and #s.requests.running or 0, s.requests and #s.requests.queued or 0, state.client.pid)
  state.last_status = s
  echo(text)
  return s
end

local commands_defined = false

--- setup{binary, model, method, method_args, serve_args, virtual_text}
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", M.config, opts or {})
  define_highlights()
  local group = vim.api.nvim_create_augroup("SeqLens", { clear = true })
  vim.api.nvim_create_autocmd("CursorMoved", { group = group, callback = function() M.focus_token_at_cursor() end })
  vim.api.nvim_create_autocmd("VimLeavePre", { group = group, callback = function() M.stop() end })
  vim.api.nvim_create_autocmd("ColorScheme", { group = group, callback = define_highlights })
  if commands_defined then return end
  commands_defined = true
  local methods = { "saliency", "input_x_gradient", "integrated_gradients", "gradient_shap", "deeplift",
    "layer_integrated_gradients", "layer_gradient_x_activation", "layer_deeplift", "sequential_integrated_gradients" }
  vim.api.nvim_create_user_command("SeqLensAttribute", function(c)
    M.attribute({ range = c.range, line1 = c.line1, line2 = c.line2, method = c.args })
  end, { range = true, nargs = "?", complete = function() return methods end })
  vim.api.nvim_create_user_command("SeqLensGenerate", function(c) M.generate(c.args) end, { nargs = "?" })
  vim.api.nvim_create_user_command("SeqLensProbabilities", function(c)
    M.probabilities({ range = c.range, line1 = c.line1, line2 = c.line2 })
  end, { range = true })
  vim.api.nvim_create_user_command("SeqLensClear", function() M.clear() end, {})
  vim.api.nvim_create_user_command("SeqLensStatus", function() M.status() end, {})
  vim.api.nvim_create_user_command("SeqLensStop", function() M.stop() end, {})
end

return M

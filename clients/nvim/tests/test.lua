-- Headless test of the SeqLens Neovim plugin against the real daemon (run by clients/nvim/tests/run).
-- Environment: SEQLENS_BIN, SEQLENS_TEST_MODEL, SEQLENS_TEST_OUT (results file), SEQLENS_TEST_PIDFILE.
local out = assert(io.open(os.getenv("SEQLENS_TEST_OUT"), "w"))
local model = os.getenv("SEQLENS_TEST_MODEL")
local label = model:match("([^/]+)$")
local passed, failed = 0, 0

local function report(ok, name, message)
  if ok then
    passed = passed + 1
    out:write("ok - ", label, ": ", name, "\n")
  else
    failed = failed + 1
    out:write("not ok - ", label, ": ", name, ": ", tostring(message), "\n")
  end
  out:flush()
end

local function test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  report(ok, name, err)
end

local function check(condition, message)
  if not condition then error(message or "check failed", 2) end
end

local seqlens = require("seqlens")
local tokens = require("seqlens.tokens")
seqlens.setup({ binary = os.getenv("SEQLENS_BIN"), model = model })
local ns = seqlens.namespace

local function client() return seqlens._state.client end
local function daemon(method, params)
  local err, result = client():request_sync(method, params, 60000)
  check(not err, method .. ": " .. vim.inspect(err))
  return result
end

local function attr_marks(bufnr)
  local marks = {}
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })) do
    local d = m[4]
    if d.hl_group and d.hl_group:match("^SeqLensAttr%d$") then
      marks[#marks + 1] = { id = m[1], row = m[2], col = m[3], end_row = d.end_row, end_col = d.end_col,
        bucket = tonumber(d.hl_group:sub(-1)) }
    end
  end
  return marks
end

local function new_buffer(lines)
  vim.cmd("enew!")
  vim.api.nvim_buf_set_lines(0, 0, -1, false, lines)
  return vim.api.nvim_get_current_buf()
end

-- Checks that every attribution mark lies on its token's bytes and that the groups are ordered as
-- `values` (position -> the daemon's value); returns the marks by position.
local function check_marks(bufnr, offsets, values)
  local _, starts = tokens.buffer_text(bufnr)
  local by_start = {}
  for p, span in ipairs(offsets) do if span[2] > span[1] then by_start[span[1]] = p end end
  local marks = attr_marks(bufnr)
  local by_position = {}
  for _, m in ipairs(marks) do
    local s = tokens.offset(starts, m.row, m.col)
    local e = tokens.offset(starts, m.end_row, m.end_col)
    local p = by_start[s]
    check(p, "a mark starts at byte " .. s .. ", where no token starts")
    check(offsets[p][2] == e, string.format("mark of position %d ends at %d, its token at %d", p - 1, e, offsets[p][2]))
    check(values[p] ~= nil, "position " .. (p - 1) .. " is highlighted but has no value")
    by_position[p] = m
  end
  for p, v in pairs(values) do
    check(by_position[p], "position " .. (p - 1) .. " (value " .. v .. ") has no mark")
    for q, w in pairs(values) do
      if v < w then
        check(by_position[p].bucket <= by_position[q].bucket,
          string.format("position %d (%.4g) has group %d, position %d (%.4g) group %d", p - 1, v, by_position[p].bucket, q - 1, w, by_position[q].bucket))
      end
    end
  end
  return by_position
end

local lines = { "Héllo wörld, 日本語の文 😀👍🏽 ok", "café naïve sœur" }
local reference -- the daemon's own attribution, for the cursor test

test("attribute: extmarks on the tokens' bytes, groups ordered as the attribution", function()
  local bufnr = new_buffer(lines)
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  vim.cmd("normal! v8l\27") -- "café naïv" (multibyte characters inside the selection)
  vim.cmd("'<,'>SeqLensAttribute")
  check(seqlens.wait(60000), "attribute did not finish")
  local text = tokens.buffer_text(bufnr)
  local prompt = lines[1] .. "\n"
  local generated = prompt .. "café naïv"
  local a = seqlens._state.buffers[bufnr]
  check(a, "no attribution stored")
  check(a.range[1] == #prompt and a.range[2] == #generated, "selection bytes " .. vim.inspect(a.range))
  local tok = daemon("tokenize", { model = "seqlens", texts = { generated }, returnOffsets = true }).results[1]
  local att = daemon("attribute", { model = "seqlens", inputs = { prompt }, generatedTexts = { generated },
    method = "saliency", stepScores = { "probability" } }).results[1]
  reference = { tok = tok, att = att, bufnr = bufnr }
  local steps = att.attrPosEnd - att.attrPosStart
  local values = {}
  for p = 1, att.attrPosEnd - 1 do
    local sum, seen = 0, false
    for k = 1, steps do
      local v = att.targetAttributions[p][k]
      if v ~= vim.NIL then sum, seen = sum + v, true end
    end
    if seen then values[p] = sum / steps end
  end
  local by_position = check_marks(bufnr, tok.offsets, values)
  for p = 1, att.attrPosStart do check(by_position[p], "prompt token " .. (p - 1) .. " has no mark") end
  -- Multibyte: some mark covers part of a character (the tiny vocabularies spell CJK byte by byte)
  -- or a whole multibyte character; its bytes are the token's.
  local multibyte = false
  for p, _ in pairs(by_position) do
    local span = tok.offsets[p]
    if text:sub(span[1] + 1, span[2]):find("[\128-\255]") then multibyte = true end
  end
  check(multibyte, "no multibyte token among the marks")
  local strongest = nil
  for p, v in pairs(values) do if not strongest or v > values[strongest] then strongest = p end end
  check(by_position[strongest].bucket == 9, "the strongest position is not SeqLensAttr9")
  check(#text == #generated + #" naïve sœur" - #" naïv", "the buffer changed")
end)

test("cursor moved: the column of the selected token under the cursor", function()
  check(reference, "needs the attribute test")
  local tok, att, bufnr = reference.tok, reference.att, reference.bufnr
  local _, starts = tokens.buffer_text(bufnr)
  local k = math.min(3, att.attrPosEnd - att.attrPosStart) -- the third selected token
  local span = tok.offsets[att.attrPosStart + k]
  local row, col = tokens.position(starts, span[1])
  vim.api.nvim_win_set_cursor(0, { row + 1, col })
  vim.cmd("doautocmd CursorMoved")
  local values = {}
  for p = 1, att.attrPosEnd - 1 do
    local v = att.targetAttributions[p][k]
    if v ~= vim.NIL then values[p] = v end
  end
  local by_position = check_marks(bufnr, tok.offsets, values)
  check(by_position[att.attrPosStart + k - 1], "the token before the focused one is not highlighted")
  check(not by_position[att.attrPosStart + k], "the focused token itself is highlighted")
  check(seqlens._state.buffers[bufnr].focus == k, "focus not recorded")
  -- Away from the selection: back to the mean.
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  vim.cmd("doautocmd CursorMoved")
  check(seqlens._state.buffers[bufnr].focus == nil, "focus did not return to the mean")
end)

test("generate 5 inserts the daemon's greedy continuation", function()
  local prompt = "Ünïcode 日本 text"
  local bufnr = new_buffer({ prompt })
  vim.api.nvim_win_set_cursor(0, { 1, #prompt - 1 })
  vim.cmd("SeqLensGenerate 5")
  check(seqlens.wait(60000), "generate did not finish")
  local expected = daemon("generate", { model = "seqlens", inputs = { prompt }, maxNewTokens = 5, doSample = false }).results[1]
  local text = tokens.buffer_text(bufnr)
  check(text == prompt .. expected.text, "buffer " .. vim.inspect(text) .. ", daemon " .. vim.inspect(prompt .. expected.text))
  check(#expected.tokens == 5, "the daemon generated " .. #expected.tokens .. " tokens")
  local g = seqlens._state.last_generation
  local covered = {}
  for _, span in ipairs(g.spans) do covered[#covered + 1] = text:sub(#prompt + span[1] + 1, #prompt + span[2]) end
  check(table.concat(covered) == expected.text, "token spans do not cover the inserted text")
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
  local coloured = 0
  for _, m in ipairs(marks) do if m[4].hl_group and m[4].hl_group:match("^SeqLensProb%d$") then coloured = coloured + 1 end end
  local nonempty = 0
  for _, span in ipairs(g.spans) do if span[2] > span[1] then nonempty = nonempty + 1 end end
  check(coloured == nonempty and coloured > 0, coloured .. " probability marks for " .. nonempty .. " tokens")
  for i, m in ipairs(g.marks) do
    check(m.bucket == tokens.probability_bucket(expected.tokens[i].prob) or g.spans[i][2] == g.spans[i][1], "bucket of token " .. i)
  end
end)

test("a second request cancels the running one", function()
  local bufnr = new_buffer(lines)
  seqlens.config.method_args.integrated_gradients = { nSteps = 10000 }
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  vim.cmd("normal! v$\27")
  local before = #seqlens.events
  vim.cmd("'<,'>SeqLensAttribute integrated_gradients")
  vim.wait(200)
  vim.cmd("'<,'>SeqLensAttribute saliency")
  check(seqlens.wait(60000), "the second attribute did not finish")
  check(vim.wait(30000, function()
    for i = before + 1, #seqlens.events do
      local e = seqlens.events[i]
      if e.kind == "cancelled" and e.code == -32800 then return true end
    end
  end, 10), "the daemon did not answer the first request with -32800")
  local sent_cancel = false
  for i = before + 1, #seqlens.events do if seqlens.events[i].kind == "cancel" then sent_cancel = true end end
  check(sent_cancel, "no $/cancelRequest sent")
  local a = seqlens._state.buffers[bufnr]
  check(a and a.method == "saliency", "the shown attribution is not the second request's")
  seqlens.config.method_args.integrated_gradients = nil
end)

test("probabilities colour each token of a range", function()
  local bufnr = new_buffer(lines)
  vim.cmd("2SeqLensProbabilities")
  check(seqlens.wait(60000), "probabilities did not finish")
  local p = seqlens._state.last_probabilities
  check(p and #p.spans > 0, "no probabilities")
  local text = tokens.buffer_text(bufnr)
  check(p.spans[1][1] == #lines[1] + 1 and p.spans[#p.spans][2] == #text, "spans do not cover line 2: " .. vim.inspect(p.spans))
  check(#p.marks > 0, "no marks")
end)

test("status and clear", function()
  local s = seqlens.status()
  check(s and type(s.requests.running) == "table" and type(s.requests.queued) == "table" and s.models[1].id == "seqlens", "status " .. vim.inspect(s))
  seqlens.clear()
  check(#vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, {}) == 0, "clear left extmarks")
end)

test("VimLeavePre stops the daemon", function()
  local pid = seqlens.pid()
  check(pid, "no daemon")
  local pidfile = os.getenv("SEQLENS_TEST_PIDFILE")
  if pidfile then local f = io.open(pidfile, "w"); f:write(pid); f:close() end
  vim.cmd("doautocmd VimLeavePre")
  local stopped
  for _, e in ipairs(seqlens.events) do if e.kind == "stopped" then stopped = e end end
  check(stopped and stopped.code == 0, "daemon exit " .. vim.inspect(stopped))
  check(seqlens.pid() == nil, "still running")
  check(vim.loop.kill(pid, 0) ~= 0, "process " .. pid .. " still exists")
end)

out:write(string.format("# %s: %d passed, %d failed\n", label, passed, failed))
out:close()
vim.cmd(failed == 0 and "qa!" or "cq!")

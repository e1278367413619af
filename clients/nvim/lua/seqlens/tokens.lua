-- Token-to-buffer mapping: byte offsets in a buffer's text, GPT-2's byte alphabet, buckets.
local M = {}

--- GPT-2's byte alphabet inverted: code point -> byte.
local byte_for_codepoint = (function()
  local table_ = {}
  local bytes = {}
  for b = 33, 126 do bytes[#bytes + 1] = b end
  for b = 161, 172 do bytes[#bytes + 1] = b end
  for b = 174, 255 do bytes[#bytes + 1] = b end
  local printable = {}
  for _, b in ipairs(bytes) do printable[b] = true; table_[b] = b end
  local extra = 0
  for b = 0, 255 do
    if not printable[b] then
      table_[256 + extra] = b
      extra = extra + 1
    end
  end
  return table_
end)()

--- The code points of a UTF-8 string (nil if it is not valid UTF-8).
local function codepoints(s)
  local points = {}
  local i = 1
  while i <= #s do
    local c = s:byte(i)
    local n, cp
    if c < 0x80 then n, cp = 1, c
    elseif c >= 0xF0 then n, cp = 4, c % 0x08
    elseif c >= 0xE0 then n, cp = 3, c % 0x10
    elseif c >= 0xC0 then n, cp = 2, c % 0x20
    else return nil end
    for j = 1, n - 1 do
      local cc = s:byte(i + j)
      if not cc then return nil end
      cp = cp * 64 + (cc % 0x40)
    end
    points[#points + 1] = cp
    i = i + n
  end
  return points
end

--- The bytes a vocabulary string spells (byte-level BPE), or the string as written when it has a
--- character outside the alphabet (special tokens), as the daemon's decoder does.
function M.token_bytes(token)
  local points = codepoints(token)
  if not points then return token end
  local out = {}
  for _, cp in ipairs(points) do
    local b = byte_for_codepoint[cp]
    if not b then return token end
    out[#out + 1] = string.char(b)
  end
  return table.concat(out)
end

--- Spans [start, end) (0-based byte offsets into `text`) of tokens whose strings are `tokens`,
--- walking the text: a token that does not continue it (a skipped special token) gets an empty span.
function M.spans_in_text(text, tokens)
  local spans = {}
  local cursor = 0
  for i, token in ipairs(tokens) do
    local bytes = M.token_bytes(token)
    if #bytes > 0 and text:sub(cursor + 1, cursor + #bytes) == bytes then
      spans[i] = { cursor, cursor + #bytes }
      cursor = cursor + #bytes
    else
      spans[i] = { cursor, cursor }
    end
  end
  return spans
end

--- Spans in `text` of tokens whose cumulative decodings are `prefixes` (prefixes[i]: the text of
--- tokens 1..i): token i ends where prefixes[i] stops agreeing with `text`, so a token that ends
--- inside a character gets the bytes up to the last whole character and the next one the rest.
function M.spans_from_prefixes(text, prefixes)
  local spans, previous = {}, 0
  for i, prefix in ipairs(prefixes) do
    local n = math.min(#prefix, #text)
    local agree = 0
    while agree < n and prefix:byte(agree + 1) == text:byte(agree + 1) do agree = agree + 1 end
    -- Stop at a character boundary of `text`.
    while agree > previous and agree < #text and text:byte(agree + 1) >= 0x80 and text:byte(agree + 1) < 0xC0 do
      agree = agree - 1
    end
    if i == #prefixes then agree = #text end
    agree = math.max(agree, previous)
    spans[i] = { previous, agree }
    previous = agree
  end
  return spans
end

--- A buffer's text (lines joined by "\n") and each line's starting byte offset.
function M.buffer_text(bufnr)
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  local starts = {}
  local offset = 0
  for i, line in ipairs(lines) do
    starts[i] = offset
    offset = offset + #line + 1
  end
  return table.concat(lines, "\n"), starts, lines
end

--- (row, col), 0-based, of byte offset `offset` in a text whose lines start at `starts`.
function M.position(starts, offset)
  local lo, hi = 1, #starts
  while lo < hi do
    local mid = math.floor((lo + hi + 1) / 2)
    if starts[mid] <= offset then lo = mid else hi = mid - 1 end
  end
  return lo - 1, offset - starts[lo]
end

--- The byte offset of (row, col), 0-based.
function M.offset(starts, row, col)
  return starts[row + 1] + col
end

--- Length in bytes of the UTF-8 character starting at byte `col` (1-based) of `line`.
function M.char_length(line, col)
  local c = line:byte(col)
  if not c then return 0 end
  if c >= 0xF0 then return 4 elseif c >= 0xE0 then return 3 elseif c >= 0xC0 then return 2 end
  return 1
end

--- Buckets 0..9 for values: proportional to the largest when none is negative, else min-max.
function M.buckets(values)
  local lo, hi = math.huge, -math.huge
  local n = 0
  for _, v in pairs(values) do
    n = n + 1
    if v < lo then lo = v end
    if v > hi then hi = v end
  end
  local result = {}
  if n == 0 then return result end
  local base = lo >= 0 and 0 or lo
  local range = hi - base
  for k, v in pairs(values) do
    local b = 0
    if range > 0 then b = math.floor((v - base) / range * 10) end
    result[k] = math.max(0, math.min(9, b))
  end
  return result
end

--- Bucket 0..9 of a probability.
function M.probability_bucket(p)
  return math.max(0, math.min(9, math.floor((p or 0) * 10)))
end

return M

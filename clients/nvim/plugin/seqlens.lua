-- Defines the :SeqLens* commands with the defaults; require("seqlens").setup{...} changes them.
if vim.g.loaded_seqlens then return end
vim.g.loaded_seqlens = true
if vim.fn.has("nvim-0.7") == 0 then return end
if not vim.g.seqlens_no_default_setup then require("seqlens").setup() end

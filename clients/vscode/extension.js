'use strict';
// SeqLens for VS Code: attributions, generation and token probabilities from a warm `seqlens serve`.
const vscode = require('vscode');
const { SeqLensClient, REQUEST_CANCELLED } = require('./lib/rpc');
const tokens = require('./lib/tokens');

const MODEL_ID = 'seqlens';
let client = null;
let starting = null;
let current = null; // the running request: {handles, kind}
let statusItem = null;
const decorationTypes = [];
const shown = new Map(); // document uri -> {types}

function config() {
  const c = vscode.workspace.getConfiguration('seqlens');
  return { binaryPath: c.get('binaryPath') || 'seqlens', model: c.get('model') || 'default', method: c.get('method') || 'saliency' };
}

async function ensureClient() {
  if (client && !client.exited) return client;
  if (starting) return starting;
  starting = (async () => {
    const { binaryPath, model } = config();
    const c = new SeqLensClient({ binary: binaryPath });
    c.on('progress', (token, value) => {
      if (value && value.kind !== 'end') statusItem.text = `$(sync~spin) SeqLens ${value.percentage ?? ''}% ${value.message ?? ''}`;
    });
    c.on('exit', () => { if (client === c) { client = null; statusItem.text = 'SeqLens: stopped'; } });
    await c.initialize('seqlens-vscode');
    statusItem.text = `$(sync~spin) SeqLens: loading ${model}`;
    const info = await c.request('model/load', { path: model, id: MODEL_ID });
    statusItem.text = `SeqLens: ${info.architecture} ${info.layers} layers`;
    statusItem.tooltip = `${info.source}\n${(info.memoryBytes / 1e6).toFixed(0)} MB`;
    client = c;
    return c;
  })();
  try { return await starting; } finally { starting = null; }
}

/** Sends requests ([method, params]), cancelling the running ones; resolves to the results or null if superseded. */
async function run(kind, requests) {
  const c = await ensureClient();
  if (current) for (const h of current.handles) h.cancel();
  const op = { kind, handles: requests.map(([method, params]) => c.start(method, params)) };
  current = op;
  try {
    const results = await Promise.all(op.handles.map((h) => h.promise));
    return current === op ? results : null;
  } catch (error) {
    if (error.code === REQUEST_CANCELLED || current !== op) return null;
    throw error;
  } finally {
    if (current === op) { current = null; }
  }
}

function clear(editor) {
  const entry = shown.get(editor.document.uri.toString());
  if (entry) for (const t of entry.types) t.dispose();
  shown.delete(editor.document.uri.toString());
}

function decorate(editor, items, hoverTitle) {
  clear(editor);
  const types = [];
  for (const item of items) {
    const type = vscode.window.createTextEditorDecorationType(item.style);
    types.push(type);
    editor.setDecorations(type, [{ range: item.range, hoverMessage: new vscode.MarkdownString(`**${hoverTitle}** ${item.hover}`) }]);
  }
  shown.set(editor.document.uri.toString(), { types, data: null });
  return shown.get(editor.document.uri.toString());
}

function byteRange(document, base, generated, spans) {
  const utf16 = tokens.spansToUtf16(generated, spans);
  return utf16.map(([s, e]) => new vscode.Range(document.positionAt(base + s), document.positionAt(base + e)));
}

async function attribute(method) {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.selection.isEmpty) return vscode.window.showWarningMessage('SeqLens: select the text to attribute');
  const document = editor.document;
  const startOffset = document.offsetAt(editor.selection.start);
  if (startOffset === 0) return vscode.window.showWarningMessage('SeqLens: the selection needs text before it (the prompt)');
  const text = document.getText();
  const prompt = text.slice(0, startOffset);
  const generated = text.slice(0, document.offsetAt(editor.selection.end));
  method = method || config().method;
  const results = await run('attribute', [
    ['attribute', { model: MODEL_ID, inputs: [prompt], generatedTexts: [generated], method, stepScores: ['probability'], workDoneToken: 'attribute' }],
    ['tokenize', { model: MODEL_ID, texts: [generated], returnOffsets: true }],
  ]);
  if (!results) return;
  const result = results[0].results[0];
  const offsets = results[1].results[0].offsets;
  const render = (focus) => {
    const items = tokens.attributionDecorations(generated, offsets, result, focus).map((d) => ({
      range: new vscode.Range(document.positionAt(d.start), document.positionAt(d.end)),
      style: { backgroundColor: d.colour, borderRadius: '2px' }, hover: d.hover,
    }));
    const probs = (result.stepScores && result.stepScores.probability) || [];
    const ranges = byteRange(document, 0, generated, offsets);
    for (let k = 0; k < result.attrPosEnd - result.attrPosStart; k++) {
      const p = result.attrPosStart + k;
      items.push({ range: ranges[p], hover: `${result.target[p].token}: p = ${probs[k]}`,
        style: { borderWidth: '0 0 2px 0', borderStyle: 'solid', borderColor: tokens.probabilityColour(probs[k]),
          after: { contentText: ` ${Number(probs[k]).toFixed(2)}`, color: new vscode.ThemeColor('editorCodeLens.foreground') } } });
    }
    const entry = decorate(editor, items, method);
    entry.data = { result, offsets, generated, ranges, render, focus };
  };
  render(null);
}

function focusAtCursor(editor) {
  const entry = editor && shown.get(editor.document.uri.toString());
  if (!entry || !entry.data) return;
  const { result, ranges, render } = entry.data;
  const cursor = editor.selection.active;
  let focus = null;
  for (let k = 0; k < result.attrPosEnd - result.attrPosStart; k++) {
    const r = ranges[result.attrPosStart + k];
    if (r.contains(cursor) && !r.end.isEqual(cursor)) { focus = k; break; }
  }
  if (focus !== entry.data.focus) render(focus);
}

async function generate() {
  const editor = vscode.window.activeTextEditor;
  if (!editor) return;
  const n = Number(await vscode.window.showInputBox({ prompt: 'SeqLens: how many tokens?', value: '20' }));
  if (!n) return;
  const document = editor.document;
  const offset = document.offsetAt(editor.selection.active);
  const prompt = document.getText().slice(0, offset);
  const results = await run('generate', [['generate', { model: MODEL_ID, inputs: [prompt], maxNewTokens: n, doSample: false, workDoneToken: 'generate' }]]);
  if (!results) return;
  const out = results[0].results[0];
  await editor.edit((edit) => edit.insert(document.positionAt(offset), out.text));
  let spans = tokens.spansInText(out.text, out.tokens.map((t) => t.token));
  if (!spans) { const total = Buffer.byteLength(out.text); spans = out.tokens.map((_, i) => (i === out.tokens.length - 1 ? [0, total] : [0, 0])); }
  const ranges = byteRange(document, offset, out.text, spans);
  decorate(editor, out.tokens.map((t, i) => ({
    range: ranges[i], hover: `${t.token}: p = ${t.prob}`,
    style: { borderWidth: '0 0 2px 0', borderStyle: 'solid', borderColor: tokens.probabilityColour(t.prob) },
  })).filter((d) => !d.range.isEmpty), 'probability');
}

async function probabilities() {
  const editor = vscode.window.activeTextEditor;
  if (!editor) return;
  const document = editor.document;
  const text = document.getText();
  const sel = editor.selection.isEmpty ? new vscode.Range(document.positionAt(0), document.positionAt(text.length)) : editor.selection;
  let start = document.offsetAt(sel.start);
  const end = document.offsetAt(sel.end);
  const generated = text.slice(0, end);
  const c = await ensureClient();
  const enc = (await c.request('tokenize', { model: MODEL_ID, texts: [generated], returnOffsets: true })).results[0];
  if (start === 0) start = tokens.spansToUtf16(generated, enc.offsets.slice(0, 1))[0][1];
  const results = await run('probabilities', [['attribute', { model: MODEL_ID, inputs: [text.slice(0, start)], generatedTexts: [generated], method: 'dummy', stepScores: ['probability'] }]]);
  if (!results) return;
  const out = results[0].results[0];
  const ranges = byteRange(document, 0, generated, enc.offsets);
  const probs = out.stepScores.probability;
  const items = [];
  for (let k = 0; k < out.attrPosEnd - out.attrPosStart; k++) {
    items.push({ range: ranges[out.attrPosStart + k], hover: `${out.target[out.attrPosStart + k].token}: p = ${probs[k]}`,
      style: { borderWidth: '0 0 2px 0', borderStyle: 'solid', borderColor: tokens.probabilityColour(probs[k]) } });
  }
  decorate(editor, items, 'probability');
}

async function status() {
  const c = await ensureClient();
  const s = await c.request('server/status', {});
  const m = s.models[0] || {};
  vscode.window.showInformationMessage(`SeqLens: ${m.id} (${m.architecture}, ${m.layers} layers), memory ${(s.memory.residentBytes / 1e6).toFixed(0)} MB` +
    `${s.memory.budgetBytes ? ' of ' + (s.memory.budgetBytes / 1e6).toFixed(0) + ' MB' : ''}, requests running ${s.requests.running.length}, queued ${s.requests.queued.length}`);
}

function guard(fn) {
  return async (...args) => {
    try { await fn(...args); } catch (error) { vscode.window.showErrorMessage(`SeqLens: ${error.message}`); }
  };
}

function activate(context) {
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.text = `SeqLens: ${config().model}`;
  statusItem.command = 'seqlens.status';
  statusItem.show();
  context.subscriptions.push(statusItem,
    vscode.commands.registerCommand('seqlens.attribute', guard(attribute)),
    vscode.commands.registerCommand('seqlens.generate', guard(generate)),
    vscode.commands.registerCommand('seqlens.probabilities', guard(probabilities)),
    vscode.commands.registerCommand('seqlens.clear', () => vscode.window.activeTextEditor && clear(vscode.window.activeTextEditor)),
    vscode.commands.registerCommand('seqlens.status', guard(status)),
    vscode.window.onDidChangeTextEditorSelection((e) => focusAtCursor(e.textEditor)),
    vscode.workspace.onDidChangeConfiguration((e) => { if (e.affectsConfiguration('seqlens') && client) { client.stop(); client = null; } }),
    { dispose: () => client && client.stop() });
}

async function deactivate() {
  if (client) await client.stop();
}

module.exports = { activate, deactivate };

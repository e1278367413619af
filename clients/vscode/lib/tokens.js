'use strict';
// Token-to-range and colour logic of the SeqLens VS Code extension. No dependency on `vscode`:
// ranges are offsets in UTF-16 code units (what vscode's document.positionAt takes).

/** For each UTF-8 byte offset 0..n of `text`, the UTF-16 offset of the character it falls in
 * (rounded down) and of its end (rounded up). */
function byteToUtf16Maps(text) {
  const bytes = Buffer.byteLength(text, 'utf8');
  const down = new Int32Array(bytes + 1);
  const up = new Int32Array(bytes + 1);
  let byte = 0;
  let unit = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    const width = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    const units = ch.length;
    for (let i = 0; i < width; i++) {
      down[byte + i] = unit;
      up[byte + i] = i === 0 ? unit : unit + units;
    }
    byte += width;
    unit += units;
  }
  down[bytes] = unit;
  up[bytes] = unit;
  return { down, up };
}

/** UTF-16 [start, end) ranges of byte spans [start, end) in `text` (the daemon's offsets); a span
 * that starts or ends inside a character is widened to the whole character. */
function spansToUtf16(text, spans) {
  const { down, up } = byteToUtf16Maps(text);
  return spans.map(([s, e]) => [down[s], e > s ? up[e] : down[s]]);
}

/** The token strings' bytes (GPT-2's byte alphabet), or the string as written if it has a
 * character outside the alphabet (special tokens), as the daemon's decoder does. */
const BYTE_FOR_CODEPOINT = (() => {
  const map = new Map();
  const printable = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const set = new Set(printable);
  for (const b of printable) map.set(b, b);
  let extra = 0;
  for (let b = 0; b < 256; b++) if (!set.has(b)) map.set(256 + extra++, b);
  return map;
})();

function tokenBytes(token) {
  const out = [];
  for (const ch of token) {
    const b = BYTE_FOR_CODEPOINT.get(ch.codePointAt(0));
    if (b === undefined) return Buffer.from(token, 'utf8');
    out.push(b);
  }
  return Buffer.from(out);
}

/** Byte spans of generated tokens in `text` (their decoded text), walking the text; a token whose
 * bytes do not continue it (a skipped special token) gets an empty span. Returns null when the
 * tokens' bytes do not make up the text (invalid UTF-8 replaced by U+FFFD). */
function spansInText(text, tokenStrings) {
  const bytes = Buffer.from(text, 'utf8');
  const spans = [];
  let cursor = 0;
  for (const token of tokenStrings) {
    const b = tokenBytes(token);
    if (b.length > 0 && bytes.subarray(cursor, cursor + b.length).equals(b)) {
      spans.push([cursor, cursor + b.length]);
      cursor += b.length;
    } else spans.push([cursor, cursor]);
  }
  return cursor === bytes.length ? spans : null;
}

/** Per position p < attrPosEnd: the mean over the selected steps of targetAttributions[p][k]
 * (positions a step cannot see count as 0), or step `focus` alone; undefined where no step sees p. */
function positionScores(result, focus = null) {
  const steps = result.attrPosEnd - result.attrPosStart;
  const scores = [];
  for (let p = 0; p < result.attrPosEnd; p++) {
    const row = result.targetAttributions[p] || [];
    if (focus !== null) {
      const v = row[focus];
      scores.push(v === null || v === undefined ? undefined : v);
      continue;
    }
    let sum = 0;
    let seen = false;
    for (let k = 0; k < steps; k++) {
      const v = row[k];
      if (v !== null && v !== undefined) { sum += v; seen = true; }
    }
    scores.push(seen ? sum / steps : undefined);
  }
  return scores;
}

/** A colour from the diverging scale for `value` in [-1, 1] (blue negative, red positive), as
 * an rgba() string with opacity growing with |value|. */
function divergingColour(value) {
  const v = Math.max(-1, Math.min(1, Number.isFinite(value) ? value : 0));
  const [r, g, b] = v >= 0 ? [220, 60, 40] : [40, 100, 220];
  const alpha = Math.round(Math.abs(v) * 0.75 * 1000) / 1000;
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

/** Scores scaled into [-1, 1] by the largest magnitude (undefined kept). */
function normalise(scores) {
  let max = 0;
  for (const v of scores) if (v !== undefined) max = Math.max(max, Math.abs(v));
  return scores.map((v) => (v === undefined ? undefined : max > 0 ? v / max : 0));
}

/** A colour for a probability: red (0) through yellow to green (1). */
function probabilityColour(p) {
  const x = Math.max(0, Math.min(1, Number.isFinite(p) ? p : 0));
  const r = Math.round(x < 0.5 ? 215 : 215 - (x - 0.5) * 2 * 189);
  const g = Math.round(x < 0.5 ? 48 + x * 2 * 170 : 218 - (x - 0.5) * 2 * 66);
  const b = Math.round(x < 0.5 ? 39 + x * 2 * 100 : 139 - (x - 0.5) * 2 * 59);
  return `rgb(${r}, ${g}, ${b})`;
}

/**
 * Decorations of an attribution: for each position with a score, its UTF-16 range in the generated
 * text, the score, its normalised value and colour, and a hover text.
 */
function attributionDecorations(generatedText, offsets, result, focus = null) {
  const ranges = spansToUtf16(generatedText, offsets);
  const scores = positionScores(result, focus);
  const scaled = normalise(scores);
  const decorations = [];
  scores.forEach((score, p) => {
    if (score === undefined || offsets[p][1] <= offsets[p][0]) return;
    const [start, end] = ranges[p];
    decorations.push({
      position: p, start, end, score, scaled: scaled[p], colour: divergingColour(scaled[p]),
      hover: `${result.target[p].token}: ${score.toFixed(4)} (${focus === null ? 'mean over the selection' : 'step ' + focus})`,
    });
  });
  return decorations;
}

module.exports = {
  byteToUtf16Maps, spansToUtf16, tokenBytes, spansInText, positionScores, divergingColour, normalise,
  probabilityColour, attributionDecorations,
};

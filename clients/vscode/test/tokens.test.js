'use strict';
const test = require('node:test');
const assert = require('node:assert');
const tokens = require('../lib/tokens');

test('byte offsets to UTF-16: accents, CJK, emoji (surrogate pairs), spans inside a character widen', () => {
  const text = 'aé日😀b';
  // bytes: a(0) é(1-2) 日(3-5) 😀(6-9) b(10); UTF-16: a0 é1 日2 😀3-4 b5
  assert.deepStrictEqual(tokens.spansToUtf16(text, [[0, 1], [1, 3], [3, 6], [6, 10], [10, 11]]), [[0, 1], [1, 2], [2, 3], [3, 5], [5, 6]]);
  assert.deepStrictEqual(tokens.spansToUtf16(text, [[6, 8], [8, 10]]), [[3, 5], [3, 5]]);
  assert.deepStrictEqual(tokens.spansToUtf16(text, [[0, 0], [11, 11]]), [[0, 0], [6, 6]]);
});

test('token bytes: the byte alphabet, special tokens as written', () => {
  assert.deepStrictEqual([...tokens.tokenBytes('Ġworld')], [...Buffer.from(' world')]);
  assert.deepStrictEqual([...tokens.tokenBytes('Ċ')], [10]);
  assert.deepStrictEqual([...tokens.tokenBytes('Ã©')], [0xc3, 0xa9]);
  assert.strictEqual(tokens.tokenBytes('<|endoftext|>').toString(), '<|endoftext|>');
  assert.deepStrictEqual(tokens.spansInText(' world!', ['Ġworld', '!']), [[0, 6], [6, 7]]);
  assert.strictEqual(tokens.spansInText('\uFFFD', ['Ł']), null);
});

test('scores: mean with unseen positions as 0, focus on one step', () => {
  const result = { attrPosStart: 2, attrPosEnd: 4, target: [{ token: 'a' }, { token: 'b' }, { token: 'c' }, { token: 'd' }],
    targetAttributions: [[0.5, 0.2], [0.5, 0.3], [null, 0.5], [null, null]] };
  assert.deepStrictEqual(tokens.positionScores(result), [0.35, 0.4, 0.25, undefined]);
  assert.deepStrictEqual(tokens.positionScores(result, 0), [0.5, 0.5, undefined, undefined]);
});

test('colours: diverging scale and probabilities', () => {
  assert.strictEqual(tokens.divergingColour(0), 'rgba(220, 60, 40, 0)');
  assert.strictEqual(tokens.divergingColour(1), 'rgba(220, 60, 40, 0.75)');
  assert.strictEqual(tokens.divergingColour(-1), 'rgba(40, 100, 220, 0.75)');
  assert.strictEqual(tokens.divergingColour(5), tokens.divergingColour(1));
  assert.deepStrictEqual(tokens.normalise([2, -4, undefined]), [0.5, -1, undefined]);
  assert.strictEqual(tokens.probabilityColour(0), 'rgb(215, 48, 39)');
  assert.strictEqual(tokens.probabilityColour(1), 'rgb(26, 152, 80)');
  const alpha = (c) => Number(c.match(/([\d.]+)\)$/)[1]);
  assert.ok(alpha(tokens.divergingColour(0.2)) < alpha(tokens.divergingColour(0.8)));
});

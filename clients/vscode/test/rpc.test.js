'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { frame, Deframer, SeqLensClient, REQUEST_CANCELLED } = require('../lib/rpc');
const tokens = require('../lib/tokens');
const { binary, fixture } = require('./helpers');

test('framing: split and joined frames, multibyte bodies, unknown headers', () => {
  const a = frame({ jsonrpc: '2.0', id: 1, result: 'é日😀' });
  const b = frame({ jsonrpc: '2.0', method: 'x', params: {} });
  const all = Buffer.concat([Buffer.from('Content-Type: x\r\n'), a, b]);
  const d = new Deframer();
  const bodies = [];
  for (let i = 0; i < all.length; i += 3) bodies.push(...d.push(all.subarray(i, i + 3)));
  assert.deepStrictEqual(bodies.map((s) => JSON.parse(s)), [{ jsonrpc: '2.0', id: 1, result: 'é日😀' }, { jsonrpc: '2.0', method: 'x', params: {} }]);
  assert.match(a.toString('utf8'), /^Content-Length: \d+\r\n\r\n/);
});

for (const model of ['tiny-llama', 'tiny-gpt2']) {
  test(`against the daemon with ${model}`, async (t) => {
    const client = new SeqLensClient({ binary: binary() });
    await client.initialize('test');
    await client.request('model/load', { path: fixture(model), id: 'm' });
    const prompt = 'Héllo wörld, 日本語 😀👍🏽\ncafé ';
    const generated = prompt + 'naïve sœur 🇫🇷';

    await t.test('attribute: decorations on the tokens of multibyte text, ordered as the scores', async () => {
      const progress = [];
      client.on('progress', (token, value) => progress.push(value.kind));
      const [att, tok] = await Promise.all([
        client.request('attribute', { model: 'm', inputs: [prompt], generatedTexts: [generated], method: 'saliency', stepScores: ['probability'], workDoneToken: 'a' }),
        client.request('tokenize', { model: 'm', texts: [generated], returnOffsets: true }),
      ]);
      const result = att.results[0];
      const { offsets, ids } = tok.results[0];
      assert.deepStrictEqual(result.target.map((x) => x.id), ids);
      const decorations = tokens.attributionDecorations(generated, offsets, result);
      assert.ok(decorations.length >= result.attrPosStart);
      const bytes = Buffer.from(generated, 'utf8');
      for (const d of decorations) {
        const [s, e] = offsets[d.position];
        // The UTF-16 range covers the token's bytes, widened to whole characters.
        const covered = Buffer.from(generated.slice(d.start, d.end), 'utf8');
        const before = Buffer.byteLength(generated.slice(0, d.start));
        assert.ok(before <= s && before + covered.length >= e, `position ${d.position}`);
        assert.ok(bytes.subarray(s, e).equals(tokens.tokenBytes(result.target[d.position].token)));
      }
      for (const x of decorations) for (const y of decorations) if (x.score < y.score) assert.ok(x.scaled <= y.scaled);
      assert.ok(progress.includes('begin') && progress.includes('end'));
    });

    await t.test('generate: token spans cover the text', async () => {
      const out = (await client.request('generate', { model: 'm', inputs: ['The text'], maxNewTokens: 5, doSample: false })).results[0];
      assert.strictEqual(out.tokens.length, 5);
      const spans = tokens.spansInText(out.text, out.tokens.map((x) => x.token));
      if (spans) assert.strictEqual(spans[spans.length - 1][1], Buffer.byteLength(out.text));
      else assert.ok(out.text.includes('\uFFFD'), 'spans missing only when bytes were not UTF-8');
      const again = (await client.request('generate', { model: 'm', inputs: ['The text'], maxNewTokens: 5, doSample: false })).results[0];
      assert.strictEqual(again.text, out.text);
    });

    await t.test('cancel: a running request answers -32800', async () => {
      const slow = client.start('attribute', { model: 'm', inputs: [prompt], generatedTexts: [generated], method: 'integrated_gradients', methodArgs: { nSteps: 10000 } });
      await new Promise((r) => setTimeout(r, 100));
      slow.cancel();
      await assert.rejects(slow.promise, (e) => e.code === REQUEST_CANCELLED);
      const ok = await client.request('tokenize', { model: 'm', texts: ['still serving'] });
      assert.ok(ok.results[0].ids.length > 0);
    });

    await t.test('stop: shutdown and exit', async () => {
      assert.strictEqual(await client.stop(), 0);
      assert.ok(client.exited);
    });
  });
}

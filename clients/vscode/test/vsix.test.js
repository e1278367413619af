'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { execFileSync } = require('child_process');

/** Reads a zip's entries through its central directory. */
function readZip(buf) {
  const end = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(end >= 0, 'no end of central directory');
  const count = buf.readUInt16LE(end + 10);
  let p = buf.readUInt32LE(end + 16);
  const entries = new Map();
  for (let i = 0; i < count; i++) {
    assert.strictEqual(buf.readUInt32LE(p), 0x02014b50);
    const method = buf.readUInt16LE(p + 10);
    const size = buf.readUInt32LE(p + 20);
    const nameLength = buf.readUInt16LE(p + 28);
    const extra = buf.readUInt16LE(p + 30);
    const comment = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLength).toString();
    const dataStart = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(dataStart, dataStart + size);
    entries.set(name, method === 8 ? zlib.inflateRawSync(raw) : raw);
    p += 46 + nameLength + extra + comment;
  }
  return entries;
}

test('package-vsix builds a .vsix with a valid manifest', () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vsix-')), 'seqlens.vsix');
  execFileSync(path.join(__dirname, '..', 'package-vsix'), [out]);
  const entries = readZip(fs.readFileSync(out));
  for (const name of ['extension.vsixmanifest', '[Content_Types].xml', 'extension/package.json', 'extension/extension.js', 'extension/lib/rpc.js', 'extension/lib/tokens.js']) {
    assert.ok(entries.has(name), `missing ${name}`);
  }
  const pkg = JSON.parse(entries.get('extension/package.json'));
  const manifest = entries.get('extension.vsixmanifest').toString();
  assert.match(manifest, /^<\?xml version="1.0"/);
  assert.ok(manifest.includes(`Id="${pkg.name}" Version="${pkg.version}" Publisher="${pkg.publisher}"`));
  assert.ok(manifest.includes('<InstallationTarget Id="Microsoft.VisualStudio.Code" />'));
  assert.ok(manifest.includes('Path="extension/package.json"'));
  assert.ok(entries.get('[Content_Types].xml').toString().includes('Extension=".js"'));
  assert.strictEqual(pkg.main, './extension.js');
  const commands = pkg.contributes.commands.map((c) => c.command);
  for (const c of ['seqlens.attribute', 'seqlens.generate', 'seqlens.probabilities', 'seqlens.clear', 'seqlens.status']) assert.ok(commands.includes(c));
  assert.deepStrictEqual(Object.keys(pkg.contributes.configuration.properties).sort(), ['seqlens.binaryPath', 'seqlens.method', 'seqlens.model']);
  // The modules the tests load do not import vscode.
  for (const m of ['lib/rpc.js', 'lib/tokens.js']) assert.ok(!/require\(['"]vscode['"]\)/.test(entries.get(`extension/${m}`).toString()));
});

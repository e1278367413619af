'use strict';
const path = require('path');
const fs = require('fs');
const root = path.resolve(__dirname, '../../..');
function binary() {
  const candidates = [process.env.SEQLENS_BIN, '.build/release/seqlens', '.build/debug/seqlens'].filter(Boolean).map((p) => path.resolve(root, p));
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error('no seqlens binary: set SEQLENS_BIN');
  return found;
}
const fixture = (name) => path.join(root, 'Tests/Fixtures/models', name);
module.exports = { root, binary, fixture };

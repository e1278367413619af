'use strict';
// JSON-RPC 2.0 over LSP framing with a `seqlens serve` child process. No dependency on `vscode`.
const { spawn } = require('child_process');
const { EventEmitter } = require('events');

/** Frames a message as the daemon expects it: Content-Length header, blank line, JSON body. */
function frame(message) {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}

/** Incremental parser of framed messages: push(chunk) returns the complete message bodies. */
class Deframer {
  constructor() { this.buffer = Buffer.alloc(0); }
  push(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const bodies = [];
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) break;
      const header = this.buffer.subarray(0, headerEnd).toString('ascii');
      const match = /content-length:\s*(\d+)/i.exec(header);
      if (!match) { this.buffer = this.buffer.subarray(headerEnd + 4); continue; }
      const length = Number(match[1]);
      const start = headerEnd + 4;
      if (this.buffer.length < start + length) break;
      bodies.push(this.buffer.subarray(start, start + length).toString('utf8'));
      this.buffer = this.buffer.subarray(start + length);
    }
    return bodies;
  }
}

class RpcError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
    this.data = error.data;
  }
}

/**
 * A client of `seqlens serve`. Events: 'notification' (method, params), 'progress' (token, value),
 * 'exit' (code, signal), 'stderr' (text).
 */
class SeqLensClient extends EventEmitter {
  /** @param {{binary?: string, args?: string[], env?: object}} options */
  constructor(options = {}) {
    super();
    this.binary = options.binary || 'seqlens';
    this.args = options.args || [];
    this.nextId = 1;
    this.pending = new Map();
    this.exited = false;
    this.exitCode = null;
    this.stderrTail = '';
    this.process = spawn(this.binary, ['serve', ...this.args], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env || process.env });
    const deframer = new Deframer();
    this.process.stdout.on('data', (chunk) => {
      for (const body of deframer.push(chunk)) this._dispatch(body);
    });
    this.process.stderr.on('data', (chunk) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-4000);
      this.emit('stderr', chunk.toString('utf8'));
    });
    this.process.stdin.on('error', () => {});
    this.exitPromise = new Promise((resolve) => {
      this.process.on('error', (error) => { this.startError = error; });
      this.process.on('close', (code, signal) => {
        this.exited = true;
        this.exitCode = code;
        for (const [, entry] of this.pending) {
          entry.reject(new RpcError({ code: -32099, message: `the SeqLens daemon exited (${code ?? signal})${this.startError ? ': ' + this.startError.message : ''}` }));
        }
        this.pending.clear();
        this.emit('exit', code, signal);
        resolve(code);
      });
    });
  }

  get pid() { return this.process.pid; }

  _dispatch(body) {
    let message;
    try { message = JSON.parse(body); } catch { return; }
    if (message.id !== undefined && message.id !== null && message.method === undefined) {
      const entry = this.pending.get(message.id);
      if (!entry) return;
      this.pending.delete(message.id);
      if (message.error) entry.reject(new RpcError(message.error));
      else entry.resolve(message.result);
    } else if (message.method) {
      this.emit('notification', message.method, message.params);
      if (message.method === '$/progress' && message.params) this.emit('progress', message.params.token, message.params.value);
    }
  }

  _write(message) {
    if (this.exited || !this.process.stdin.writable) return false;
    this.process.stdin.write(frame(message));
    return true;
  }

  /**
   * Sends a request. Returns {id, promise, cancel()}: the promise resolves to the result or rejects
   * with an RpcError (code -32800 once cancelled).
   */
  start(method, params = {}) {
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      if (!this._write({ jsonrpc: '2.0', id, method, params })) {
        this.pending.delete(id);
        reject(new RpcError({ code: -32099, message: 'the SeqLens daemon is not running' }));
      }
    });
    return { id, promise, cancel: () => this.cancel(id) };
  }

  /** Sends a request and returns its result (a promise). */
  request(method, params = {}) { return this.start(method, params).promise; }

  notify(method, params = {}) { return this._write({ jsonrpc: '2.0', method, params }); }

  /** Asks the daemon to cancel request `id`; it answers that request with -32800. */
  cancel(id) { if (this.pending.has(id)) this.notify('$/cancelRequest', { id }); }

  /** initialize + initialized. */
  async initialize(clientName = 'seqlens-node') {
    const result = await this.request('initialize', { processId: process.pid, clientInfo: { name: clientName } });
    this.notify('initialized', {});
    return result;
  }

  /** shutdown + exit; kills the process if it has not exited after `timeoutMs`. Resolves to the exit code. */
  async stop(timeoutMs = 3000) {
    if (this.exited) return this.exitCode;
    const timeout = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());
    await Promise.race([this.request('shutdown').catch(() => {}), timeout(timeoutMs)]);
    this.notify('exit');
    this.process.stdin.end();
    const code = await Promise.race([this.exitPromise, timeout(timeoutMs).then(() => undefined)]);
    if (code === undefined) { this.process.kill('SIGKILL'); return this.exitPromise; }
    return code;
  }
}

module.exports = { frame, Deframer, RpcError, SeqLensClient, REQUEST_CANCELLED: -32800 };

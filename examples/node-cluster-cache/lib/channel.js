'use strict';
// Request/response and one-way messages over a cluster IPC endpoint: the
// worker's `process` on one side, the primary's `Worker` object on the other.
// Both ends use the same class, so either side can call the other.

class Channel {
  /**
   * @param {{send: Function, on: Function}} endpoint process or cluster Worker
   * @param {Record<string, (args: any) => any>} handlers operations the other side may call
   */
  constructor(endpoint, handlers = {}) {
    this.endpoint = endpoint;
    this.handlers = handlers;
    this.seq = 0;
    this.pending = new Map();
    endpoint.on('message', (message) => this.#receive(message));
  }

  /** Calls `op` on the other side; rejects after `timeoutMs`. */
  call(op, args = {}, timeoutMs = 10000) {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`IPC call ${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, { resolve, reject, timer });
      this.endpoint.send({ kind: 'call', seq, op, args });
    });
  }

  /** Sends a message that expects no answer. */
  notify(op, args = {}) {
    this.endpoint.send({ kind: 'notify', op, args });
  }

  /** Rejects every call still waiting for an answer (the other side is gone). */
  failPending(reason) {
    for (const [seq, { reject, timer }] of this.pending) {
      clearTimeout(timer);
      this.pending.delete(seq);
      reject(new Error(reason));
    }
  }

  #receive(message) {
    if (message === null || typeof message !== 'object') return;
    if (message.kind === 'reply') {
      const waiter = this.pending.get(message.seq);
      if (!waiter) return;
      this.pending.delete(message.seq);
      clearTimeout(waiter.timer);
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(new Error(message.error));
      return;
    }
    const handler = this.handlers[message.op];
    if (message.kind === 'notify') {
      if (handler) handler(message.args);
      return;
    }
    if (message.kind !== 'call') return;
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown IPC operation ${message.op}`);
        return handler(message.args);
      })
      .then(
        (value) => this.#reply({ kind: 'reply', seq: message.seq, ok: true, value }),
        (err) => this.#reply({ kind: 'reply', seq: message.seq, ok: false, error: String(err?.message ?? err) }),
      );
  }

  #reply(message) {
    // The other side may have gone away (shutdown); there is nobody to tell.
    if (this.endpoint.isConnected?.() === false || this.endpoint.connected === false) return;
    this.endpoint.send(message);
  }
}

module.exports = { Channel };

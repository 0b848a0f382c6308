'use strict';
// Cross-worker invalidation over pub/sub, with acknowledgements.
//
// A writer publishes {id, version, from, seq} on INVALIDATE_CHANNEL. Every
// worker (the writer included) applies it to its local cache and then
// publishes `seq` on the writer's own ack channel. The writer learns from
// PUBLISH how many subscribers received the message and waits until that many
// acks have come back, so an update is complete only once no worker can still
// serve the old version from memory. Plain fire-and-forget pub/sub would leave
// a window where a read that starts after the update returned is served a
// stale local copy by a worker that has not processed the message yet.

const INVALIDATE_CHANNEL = 'items:invalidate';
const ackChannel = (uid) => `items:ack:${uid}`;

class InvalidationBus {
  /**
   * @param {object} options
   * @param {string} options.uid unique name of this worker (ack channel suffix)
   * @param {(channel: string, message: string) => Promise<number>} options.publish PUBLISH on a command connection
   * @param {(id: string, version: number) => (void|Promise<void>)} options.apply drops local copies older than version
   * @param {number} options.subscribers how many workers must receive each message
   * @param {(where: string, err: Error) => void} options.report error sink
   * @param {number} [options.ackTimeoutMs]
   */
  constructor({ uid, publish, apply, subscribers, report, ackTimeoutMs = 5000 }) {
    Object.assign(this, { uid, publish, apply, subscribers, report, ackTimeoutMs });
    this.seq = 0;
    this.pending = new Map();
    this.received = 0;
  }

  /** Channels the subscriber connection must listen on. */
  channels() {
    return [INVALIDATE_CHANNEL, ackChannel(this.uid)];
  }

  /** Feeds one pub/sub message received by the subscriber connection. */
  handle(channel, message) {
    if (channel === INVALIDATE_CHANNEL) {
      this.received++;
      this.#onInvalidate(message);
    } else if (channel === ackChannel(this.uid)) {
      const waiter = this.pending.get(Number(message));
      if (waiter) {
        waiter.acks++;
        this.#settle(waiter);
      }
    }
  }

  #onInvalidate(message) {
    let note;
    try {
      note = JSON.parse(message);
    } catch (err) {
      this.report('invalidation message', err);
      return;
    }
    Promise.resolve()
      .then(() => this.apply(note.id, note.version))
      .then(() => this.publish(ackChannel(note.from), String(note.seq)))
      .catch((err) => this.report('invalidation ack', err));
  }

  /** Tells every worker that `item` is current; resolves once all have acknowledged. */
  async broadcast(item) {
    const seq = ++this.seq;
    const waiter = { acks: 0, needed: null };
    const done = new Promise((resolve, reject) => {
      waiter.resolve = resolve;
      waiter.timer = setTimeout(() => {
        reject(new Error(
          `invalidation of ${item.id}@${item.version}: ${waiter.acks} of ` +
          `${waiter.needed ?? '?'} acks after ${this.ackTimeoutMs} ms`,
        ));
      }, this.ackTimeoutMs);
    });
    // Awaited below; this only keeps an early throw from leaving it unhandled.
    done.catch(() => {});
    this.pending.set(seq, waiter);
    try {
      const message = JSON.stringify({ id: item.id, version: item.version, from: this.uid, seq });
      const receivers = await this.publish(INVALIDATE_CHANNEL, message);
      if (receivers !== this.subscribers) {
        throw new Error(`PUBLISH reached ${receivers} subscribers, expected ${this.subscribers}`);
      }
      // Acks travel on another connection and may have arrived already.
      waiter.needed = receivers;
      this.#settle(waiter);
      await done;
    } finally {
      clearTimeout(waiter.timer);
      this.pending.delete(seq);
    }
  }

  #settle(waiter) {
    if (waiter.needed !== null && waiter.acks >= waiter.needed) waiter.resolve();
  }
}

module.exports = { INVALIDATE_CHANNEL, InvalidationBus, ackChannel };

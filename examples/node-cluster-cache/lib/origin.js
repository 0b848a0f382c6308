'use strict';
// The origin: the slow source of truth the cache sits in front of. It lives in
// the cluster primary (workers reach it over IPC), so every worker sees the
// same versions. Values are a pure function of (id, version), which lets the
// load test verify any value it is served without asking anyone.

const crypto = require('node:crypto');

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The value of item `id` at `version`. */
function valueOf(id, version) {
  const digest = crypto.createHash('sha256').update(`${id}@${version}`).digest('hex');
  return `item ${id} version ${version} ${digest}`;
}

class Origin {
  /** @param {{delayMs?: number}} options delayMs simulates a slow database read */
  constructor({ delayMs = 0 } = {}) {
    this.versions = new Map();
    this.delayMs = delayMs;
    this.loads = 0;
    this.updates = 0;
  }

  #snapshot(id) {
    const version = this.versions.get(id) ?? 1;
    return { id, version, value: valueOf(id, version) };
  }

  /** Reads the current version of an item (every item starts at version 1). */
  async load(id) {
    this.loads++;
    if (this.delayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    }
    // Read after the delay, as a database answers with what it has when it answers.
    return this.#snapshot(id);
  }

  /** Bumps the version of an item and returns the new current item. */
  update(id) {
    this.updates++;
    this.versions.set(id, (this.versions.get(id) ?? 1) + 1);
    return this.#snapshot(id);
  }

  stats() {
    return { loads: this.loads, updates: this.updates, items: this.versions.size };
  }
}

module.exports = { ID_PATTERN, Origin, valueOf };

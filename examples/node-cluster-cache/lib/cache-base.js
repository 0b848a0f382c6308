'use strict';
// What both client variants share: the key layout, version floors, counters,
// and the two WATCH/MULTI transactions that keep the shared cache from going
// backwards in version.
//
// Entries in the shared cache are JSON {id, version, value} under `item:<id>`
// with a TTL. Two races could otherwise leave an old version there for a whole
// TTL: a reader that loaded version N from the origin and writes it after a
// writer stored N+1, and two writers of the same id whose SETs arrive out of
// order. Both are closed by writing inside WATCH/MULTI/EXEC on a connection of
// our own (WATCH state is per connection, so it cannot share the connection
// that concurrent requests pipeline on): readers write only if the key did not
// change since before they asked the origin, writers only if what is cached is
// older than what they bring.

const key = (id) => `item:${id}`;

const parse = (raw) => (raw === null || raw === undefined ? null : JSON.parse(raw));

/** How many times a writer retries after EXEC was aborted by a concurrent write. */
const WRITE_ATTEMPTS = 20;

class VersionedCache {
  /**
   * @param {object} options
   * @param {{load: Function, update: Function}} options.origin
   * @param {number} options.ttl seconds an entry lives in the shared cache
   * @param {(where: string, err: Error) => void} options.report
   */
  constructor({ origin, ttl, report }) {
    Object.assign(this, { origin, ttl, report });
    // Highest version announced by a completed invalidation, per id: nothing
    // older may be served from now on.
    this.floors = new Map();
    this.counters = {
      reads: 0,
      updates: 0,
      local: 0,
      shared: 0,
      origin: 0,
      staleShared: 0,
      fillAborts: 0,
      writeRetries: 0,
    };
  }

  floorOf(id) {
    return this.floors.get(id) ?? 0;
  }

  raiseFloor(id, version) {
    if (version > this.floorOf(id)) this.floors.set(id, version);
  }

  /**
   * Runs `fn(tx)` on a connection reserved for it. `tx` has watch(key),
   * get(key), unwatch(), and commit(key, json, ttl) which runs MULTI/SET/EXEC
   * and resolves to false when EXEC was aborted by a watched key.
   */
  async transaction(_fn) {
    throw new Error('transaction() is provided by the client variant');
  }

  /**
   * Loads an item from the origin and stores it in the shared cache unless a
   * writer got there first. Returns {item, source}.
   */
  async fill(id) {
    return this.transaction(async (tx) => {
      // WATCH before asking the origin: a writer that bumps the version after
      // this point also writes the key, which aborts our EXEC below.
      await tx.watch(key(id));
      const cached = parse(await tx.get(key(id)));
      if (cached && cached.version >= this.floorOf(id)) {
        await tx.unwatch();
        return { item: cached, source: 'shared' };
      }
      const item = await this.origin.load(id);
      if (!(await tx.commit(key(id), JSON.stringify(item), this.ttl))) this.counters.fillAborts++;
      return { item, source: 'origin' };
    });
  }

  /** Writes `item` to the shared cache unless a newer version is already there. */
  async storeIfNewer(item) {
    for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
      const stored = await this.transaction(async (tx) => {
        await tx.watch(key(item.id));
        const cached = parse(await tx.get(key(item.id)));
        if (cached && cached.version >= item.version) {
          await tx.unwatch();
          return true;
        }
        return tx.commit(key(item.id), JSON.stringify(item), this.ttl);
      });
      if (stored) return;
      this.counters.writeRetries++;
    }
    throw new Error(`could not store ${item.id}@${item.version}: EXEC aborted ${WRITE_ATTEMPTS} times`);
  }

  /**
   * POST/PUT: bump the version at the origin, write it through to the shared
   * cache, then invalidate every worker's local copy and wait for all of them.
   */
  async update(id) {
    this.counters.updates++;
    const item = await this.origin.update(id);
    await this.storeIfNewer(item);
    await this.bus.broadcast(item);
    return item;
  }

  /** Counts a served read and passes it through. */
  served(result) {
    this.counters.reads++;
    this.counters[result.source]++;
    return result;
  }
}

/**
 * A fixed set of connections handed out one request at a time, for
 * WATCH/MULTI/EXEC sequences that must not interleave with other requests.
 */
class ConnectionPool {
  constructor(connections) {
    this.idle = [...connections];
    this.waiters = [];
  }

  async use(fn) {
    const conn = this.idle.pop() ?? (await new Promise((resolve) => this.waiters.push(resolve)));
    try {
      return await fn(conn);
    } finally {
      const next = this.waiters.shift();
      if (next) next(conn);
      else this.idle.push(conn);
    }
  }
}

module.exports = { ConnectionPool, VersionedCache, key, parse };

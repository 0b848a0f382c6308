'use strict';
// Variant A: ioredis. Each worker keeps an in-memory L1 map in front of the
// shared cache and drops entries when an invalidation arrives on the pub/sub
// bus. Connections per worker: one for requests (GET, PUBLISH), one
// subscriber, and a few reserved for WATCH/MULTI/EXEC.

const Redis = require('ioredis');
const { InvalidationBus } = require('./bus');
const { ConnectionPool, VersionedCache, key, parse } = require('./cache-base');

const TRANSACTION_CONNECTIONS = 4;
const L1_MAX_ENTRIES = 10000;

class IoredisCache extends VersionedCache {
  /**
   * @param {object} options see VersionedCache, plus
   * @param {string} options.url redis:// URL of the shared cache
   * @param {string} [options.socket] Unix socket path, used instead of url
   * @param {number} options.protocol 2 or 3 (ioredis defaults to 3)
   * @param {string} options.uid unique worker name
   * @param {number} options.workers how many workers subscribe to invalidations
   */
  constructor(options) {
    super(options);
    this.options = options;
    this.l1 = new Map();
  }

  async start() {
    const { url, socket, protocol, uid, workers, report } = this.options;
    const connect = (role) => {
      const options = { protocol, lazyConnect: true, connectionName: `${uid}-${role}` };
      const client = socket ? new Redis({ ...options, path: socket }) : new Redis(url, options);
      client.on('error', (err) => report(`ioredis ${role} connection`, err));
      return client;
    };
    this.main = connect('main');
    this.sub = connect('sub');
    this.txConnections = Array.from({ length: TRANSACTION_CONNECTIONS }, (_, i) => connect(`tx${i}`));
    this.all = [this.main, this.sub, ...this.txConnections];
    await Promise.all(this.all.map((client) => client.connect()));
    this.pool = new ConnectionPool(this.txConnections);
    this.bus = new InvalidationBus({
      uid,
      subscribers: workers,
      report,
      publish: (channel, message) => this.main.publish(channel, message),
      apply: (id, version) => this.#invalidate(id, version),
    });
    this.sub.on('message', (channel, message) => this.bus.handle(channel, message));
    await this.sub.subscribe(...this.bus.channels());
  }

  async stop() {
    await Promise.allSettled(this.all.map((client) => client.quit()));
  }

  async read(id) {
    const local = this.l1.get(id);
    if (local && local.version >= this.floorOf(id)) return this.served({ item: local, source: 'local' });
    const cached = parse(await this.main.get(key(id)));
    // Writers store before they announce, so an older version here than the
    // floor means the shared entry is behind; never serve it.
    if (cached && cached.version < this.floorOf(id)) this.counters.staleShared++;
    const result = cached && cached.version >= this.floorOf(id) ? { item: cached, source: 'shared' } : await this.fill(id);
    this.#remember(result.item);
    return this.served(result);
  }

  async update(id) {
    const item = await super.update(id);
    this.#remember(item);
    return item;
  }

  async transaction(fn) {
    return this.pool.use(async (conn) => {
      const tx = {
        watch: (k) => conn.watch(k),
        get: (k) => conn.get(k),
        unwatch: () => conn.unwatch(),
        // EXEC resolves to null when a watched key changed.
        commit: async (k, json, ttl) => (await conn.multi().set(k, json, 'EX', ttl).exec()) !== null,
      };
      try {
        return await fn(tx);
      } catch (err) {
        await conn.unwatch().catch(() => {});
        throw err;
      }
    });
  }

  #invalidate(id, version) {
    this.raiseFloor(id, version);
    const local = this.l1.get(id);
    if (local && local.version < version) this.l1.delete(id);
  }

  // Checked against the floor at insertion time: the value may have been read
  // before an invalidation that was processed while we waited for it.
  #remember(item) {
    if (item.version < this.floorOf(item.id)) return;
    const local = this.l1.get(item.id);
    if (local && local.version >= item.version) return;
    this.l1.delete(item.id);
    this.l1.set(item.id, item);
    if (this.l1.size > L1_MAX_ENTRIES) this.l1.delete(this.l1.keys().next().value);
  }

  stats() {
    return { ...this.counters, invalidationsReceived: this.bus.received, l1Entries: this.l1.size };
  }
}

module.exports = { IoredisCache };

'use strict';
// Variant B: node-redis with its client-side cache. The local copy is kept by
// node-redis itself: the client turns CLIENT TRACKING on over RESP3 and drops
// cached replies when the server pushes `invalidate` for their keys. This
// worker keeps no L1 of its own and never evicts from the client-side cache
// by hand, so a server that fails to send an invalidation shows up as a stale
// read in the load test.
//
// The pub/sub bus still announces every update, for one reason: to know when
// the tracking invalidation has reached this worker. On each announcement the
// worker sends PING on its caching connection and acks only after the reply.
// The server wrote the invalidation push for the writer's SET into that
// connection before the writer published, so by the time PONG is read the
// push has been applied.

const { WatchError, createClient, createClientPool } = require('redis');
const { InvalidationBus } = require('./bus');
const { VersionedCache, key } = require('./cache-base');

const TRANSACTION_CONNECTIONS = 4;

class NodeRedisCache extends VersionedCache {
  /**
   * @param {object} options see VersionedCache, plus
   * @param {string} options.url redis:// URL of the shared cache
   * @param {string} [options.socket] Unix socket path, used instead of url
   * @param {string} options.uid unique worker name
   * @param {number} options.workers how many workers subscribe to invalidations
   */
  constructor(options) {
    super(options);
    this.options = options;
  }

  async start() {
    const { url, socket, uid, workers, report } = this.options;
    const watchErrors = (role, client) => client.on('error', (err) => report(`node-redis ${role} connection`, err));
    const server = socket ? { socket: { path: socket } } : { url };
    // Default client-side cache options: no TTL, no size limit, LRU.
    this.client = createClient({ ...server, RESP: 3, clientSideCache: {}, name: `${uid}-main` });
    this.sub = createClient({ ...server, RESP: 3, name: `${uid}-sub` });
    this.pool = createClientPool(
      { ...server, RESP: 3, name: `${uid}-tx` },
      { minimum: 1, maximum: TRANSACTION_CONNECTIONS },
    );
    watchErrors('main', this.client);
    watchErrors('sub', this.sub);
    watchErrors('pool', this.pool);
    await Promise.all([this.client.connect(), this.sub.connect(), this.pool.connect()]);
    this.bus = new InvalidationBus({
      uid,
      subscribers: workers,
      report,
      publish: (channel, message) => this.client.publish(channel, message),
      apply: async () => {
        await this.client.ping();
      },
    });
    await this.sub.subscribe(this.bus.channels(), (message, channel) => this.bus.handle(channel, message));
  }

  async stop() {
    await Promise.allSettled([this.client.close(), this.sub.close(), this.pool.close()]);
  }

  async read(id) {
    const csc = this.client.clientSideCache;
    // A hit is counted synchronously inside get(), before its first await.
    const hitsBefore = csc.stats().hitCount;
    const pending = this.client.get(key(id));
    const local = csc.stats().hitCount > hitsBefore;
    const raw = await pending;
    if (raw === null) return this.served(await this.fill(id));
    return this.served({ item: JSON.parse(raw), source: local ? 'local' : 'shared' });
  }

  async transaction(fn) {
    return this.pool.execute(async (conn) => {
      const tx = {
        watch: (k) => conn.watch(k),
        get: (k) => conn.get(k),
        unwatch: () => conn.unwatch(),
        commit: async (k, json, ttl) => {
          try {
            await conn.multi().set(k, json, { EX: ttl }).exec();
            return true;
          } catch (err) {
            if (err instanceof WatchError) return false;
            throw err;
          }
        },
      };
      try {
        return await fn(tx);
      } catch (err) {
        await conn.unwatch().catch(() => {});
        throw err;
      }
    });
  }

  stats() {
    const csc = this.client.clientSideCache;
    const { hitCount, missCount, evictionCount } = csc.stats();
    return {
      ...this.counters,
      invalidationsReceived: this.bus.received,
      clientSideCache: { entries: csc.size(), hitCount, missCount, evictionCount },
    };
  }
}

module.exports = { NodeRedisCache };

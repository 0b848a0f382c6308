'use strict';
// One cluster worker: an HTTP server on the shared port in front of the cache.
//
//   GET  /item/:id      read through the cache -> {id, version, value, source, worker}
//   POST /item/:id      (or PUT) bump the version at the origin and invalidate
//                        every worker's copy -> {id, version, value, worker}
//   GET  /_stats        counters and errors of all workers, gathered by the primary
//   GET  /healthz       {worker}

const http = require('node:http');
const { Channel } = require('./channel');
const { ID_PATTERN } = require('./origin');

const START_TIMEOUT_MS = 15000;

const VARIANTS = {
  ioredis: () => require('./cache-ioredis').IoredisCache,
  'node-redis': () => require('./cache-node-redis').NodeRedisCache,
};

async function runWorker(config) {
  const uid = `w${process.env.WORKER_INDEX}-${process.pid}`;
  let cache = null;
  let server = null;
  const requests = { total: 0, failed: 0 };

  const primary = new Channel(process, {
    stats: () => ({ uid, pid: process.pid, requests, cache: cache?.stats() ?? null }),
    shutdown: () => shutdown(),
  });
  const report = (where, err) => {
    const message = `${where}: ${err?.stack ?? err}`;
    console.error(`[${uid}] ${message}`);
    if (process.connected) primary.notify('worker.error', { uid, message });
  };
  process.on('unhandledRejection', (err) => report('unhandled rejection', err));
  process.on('uncaughtException', (err) => {
    report('uncaught exception', err);
    setTimeout(() => process.exit(1), 100);
  });

  async function shutdown() {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
    await cache?.stop();
    setImmediate(() => process.exit(0));
  }

  const origin = {
    load: (id) => primary.call('origin.load', { id }),
    update: (id) => primary.call('origin.update', { id }),
  };
  const Cache = VARIANTS[config.variant]();
  cache = new Cache({ ...config, uid, origin, report });
  await withTimeout(cache.start(), START_TIMEOUT_MS, 'connecting to the cache server');

  server = http.createServer((req, res) => {
    requests.total++;
    handle(req, res).catch((err) => {
      requests.failed++;
      report(`${req.method} ${req.url}`, err);
      send(res, 500, { error: String(err.message ?? err) });
    });
  });
  server.keepAliveTimeout = 30000;

  async function handle(req, res) {
    const path = req.url.split('?')[0];
    if (path === '/_stats' && req.method === 'GET') return send(res, 200, await primary.call('cluster.stats'));
    if (path === '/healthz') return send(res, 200, { worker: uid });
    const match = /^\/item\/([^/]+)$/.exec(path);
    if (!match) return send(res, 404, { error: 'not found' });
    const id = decodeURIComponent(match[1]);
    if (!ID_PATTERN.test(id)) return send(res, 400, { error: 'bad id' });
    if (req.method === 'GET') {
      const { item, source } = await cache.read(id);
      return send(res, 200, { ...item, source, worker: uid });
    }
    if (req.method === 'POST' || req.method === 'PUT') {
      // The body is not used: the origin computes the next value itself.
      await drain(req);
      const item = await cache.update(id);
      return send(res, 200, { ...item, worker: uid });
    }
    return send(res, 405, { error: 'method not allowed' });
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  primary.notify('worker.ready', { uid, pid: process.pid });
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no success within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function drain(req) {
  return new Promise((resolve, reject) => {
    req.on('error', reject).on('end', resolve).resume();
  });
}

function send(res, status, body) {
  if (res.headersSent) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

module.exports = { VARIANTS, runWorker };

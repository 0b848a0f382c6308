'use strict';
// Entry point. The primary owns the origin, forks one worker per core (at
// least 4), gathers their errors and counters, and re-forks a worker that
// dies. Workers serve HTTP on one shared loopback port (see lib/worker.js).
//
//   node app.js --variant ioredis|node-redis [--redis redis://127.0.0.1:6379]
//               [--redis-socket /path/to/forkv.sock] [--port 3000] [--workers N] [--ttl 300] [--protocol 3]
//               [--origin-delay-ms 2]

const cluster = require('node:cluster');
const os = require('node:os');
const { parseArgs } = require('node:util');
const { Channel } = require('./lib/channel');
const { Origin } = require('./lib/origin');
const { VARIANTS, runWorker } = require('./lib/worker');

// A worker that keeps dying is not re-forked forever.
const MAX_RESTARTS = 8;
const MAX_KEPT_ERRORS = 100;

function readConfig() {
  const { values } = parseArgs({
    options: {
      variant: { type: 'string', default: process.env.VARIANT ?? 'ioredis' },
      redis: { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
      // A Unix socket path (the server's `unixsocket`); used instead of --redis.
      'redis-socket': { type: 'string', default: process.env.REDIS_SOCKET ?? '' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: process.env.PORT ?? '3000' },
      workers: { type: 'string', default: String(Math.max(4, os.availableParallelism())) },
      ttl: { type: 'string', default: '300' },
      protocol: { type: 'string', default: '3' },
      'origin-delay-ms': { type: 'string', default: '2' },
    },
  });
  if (!VARIANTS[values.variant]) throw new Error(`unknown variant ${values.variant} (${Object.keys(VARIANTS).join(', ')})`);
  if (values.variant === 'node-redis' && values.protocol !== '3') {
    throw new Error('the node-redis variant needs RESP3 for its client-side cache');
  }
  return {
    variant: values.variant,
    url: values.redis,
    socket: values['redis-socket'],
    host: values.host,
    port: Number(values.port),
    workers: Math.max(4, Number(values.workers)),
    ttl: Number(values.ttl),
    protocol: Number(values.protocol),
    originDelayMs: Number(values['origin-delay-ms']),
  };
}

function runPrimary(config) {
  const origin = new Origin({ delayMs: config.originDelayMs });
  const errors = []; // the first MAX_KEPT_ERRORS of errorCount
  let errorCount = 0;
  const workers = new Map(); // cluster worker id -> {channel, index, ready, uid, pid}
  let stopping = false;
  let announced = false;
  let restarts = 0;

  // Workers print their own errors; the primary prints only what it sees itself.
  const recordError = (uid, message, print = false) => {
    errorCount++;
    if (errors.length < MAX_KEPT_ERRORS) errors.push({ uid, message });
    if (print) console.error(`[primary] ${uid}: ${message}`);
  };

  const stats = async () => {
    const entries = [...workers.values()];
    const answers = await Promise.allSettled(entries.map((w) => w.channel.call('stats', {}, 3000)));
    return {
      variant: config.variant,
      protocol: config.protocol,
      expectedWorkers: config.workers,
      readyWorkers: entries.filter((w) => w.ready).length,
      origin: origin.stats(),
      workers: answers.map((a, i) => (a.status === 'fulfilled' ? a.value : { uid: entries[i].uid, error: String(a.reason) })),
      errorCount,
      errors,
    };
  };

  const fork = (index) => {
    const worker = cluster.fork({ WORKER_INDEX: String(index), CACHE_CONFIG: JSON.stringify(config) });
    const entry = { index, ready: false, uid: `w${index}`, pid: worker.process.pid };
    entry.channel = new Channel(worker, {
      'origin.load': ({ id }) => origin.load(id),
      'origin.update': ({ id }) => origin.update(id),
      'cluster.stats': stats,
      'worker.error': ({ uid, message }) => recordError(uid, message),
      'worker.ready': ({ uid, pid }) => {
        Object.assign(entry, { ready: true, uid, pid });
        const ready = [...workers.values()].filter((w) => w.ready);
        if (!announced && ready.length === config.workers) {
          announced = true;
          console.log(`ready: ${config.variant} on http://${config.host}:${config.port}, workers ${ready.map((w) => w.pid).join(' ')}`);
        }
      },
    });
    workers.set(worker.id, entry);
  };

  cluster.on('exit', (worker, code, signal) => {
    const entry = workers.get(worker.id);
    workers.delete(worker.id);
    entry?.channel.failPending('worker exited');
    if (stopping) return;
    const uid = entry?.uid ?? `worker ${worker.id}`;
    // A worker that never got ready will not do better the next time.
    if (!entry?.ready) {
      recordError(uid, `exited (code ${code}, signal ${signal}) before it was ready; stopping`, true);
      process.exitCode = 1;
      stop();
      return;
    }
    if (++restarts > MAX_RESTARTS) {
      recordError(uid, `exited (code ${code}, signal ${signal}); too many restarts, stopping`, true);
      process.exitCode = 1;
      stop();
      return;
    }
    recordError(uid, `exited (code ${code}, signal ${signal}); forking a replacement`, true);
    fork(entry?.index ?? workers.size);
  });

  const stop = () => {
    if (stopping) return;
    stopping = true;
    const pending = [...workers.values()].map((w) => w.channel.call('shutdown', {}, 5000).catch(() => {}));
    Promise.allSettled(pending).then(() => {
      setTimeout(() => {
        for (const id of Object.keys(cluster.workers)) cluster.workers[id]?.process.kill('SIGKILL');
        process.exit();
      }, 2000).unref();
      if (Object.keys(cluster.workers).length === 0) process.exit();
      cluster.on('exit', () => {
        if (Object.keys(cluster.workers).length === 0) process.exit();
      });
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  for (let i = 0; i < config.workers; i++) fork(i);
}

if (cluster.isPrimary) {
  runPrimary(readConfig());
} else {
  runWorker(JSON.parse(process.env.CACHE_CONFIG)).catch((err) => {
    console.error(`worker ${process.pid} failed to start: ${err?.stack ?? err}`);
    process.exit(1);
  });
}

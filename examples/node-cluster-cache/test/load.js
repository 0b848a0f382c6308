'use strict';
// Drives a bounded mixed load of reads and updates against the cluster through
// loopback HTTP, then checks what it was served:
//
// - every value is the origin's value for the version it claims;
// - no read returns a version older than the newest update that had completed
//   (its POST answered) before the read was sent;
// - after the load, every worker serves the final version of each updated id;
// - the share of reads not answered by the origin is at least --min-hit-ratio
//   and the share answered from worker memory at least --min-local-ratio;
// - no request failed and no worker reported an error.
//
// Prints a summary and exits 1 if a check failed.
//
//   node test/load.js --url http://127.0.0.1:3000 [--requests 4000]
//       [--concurrency 16] [--ids 100] [--write-ratio 0.1] [--duration 25] ...

const http = require('node:http');
const { parseArgs } = require('node:util');
const { valueOf } = require('../lib/origin');

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    requests: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '16' },
    ids: { type: 'string', default: '100' },
    'hot-ids': { type: 'string', default: '20' },
    'hot-share': { type: 'string', default: '0.8' },
    'write-ratio': { type: 'string', default: '0.1' },
    duration: { type: 'string', default: '25' },
    'min-requests': { type: 'string', default: '1000' },
    'min-hit-ratio': { type: 'string', default: '0.8' },
    'min-local-ratio': { type: 'string', default: '0.2' },
    'sweep-ids': { type: 'string', default: '30' },
    'ready-timeout': { type: 'string', default: '30' },
    seed: { type: 'string', default: '1' },
    // The cluster primary: stop waiting for readiness once it has exited.
    pid: { type: 'string' },
  },
});
if (!opt.url) {
  console.error('usage: node test/load.js --url http://127.0.0.1:PORT [options]');
  process.exit(2);
}
const num = (name) => Number(opt[name]);

// Reproducible operation mix: mulberry32.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function request(agent, method, path, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const headers = method === 'GET' ? {} : { 'content-length': 0 };
    const req = http.request(new URL(path, opt.url), { method, agent, headers, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        try {
          resolve({ status: res.statusCode, body: JSON.parse(text) });
        } catch {
          reject(new Error(`${method} ${path}: status ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

async function waitReady() {
  const agent = new http.Agent({ keepAlive: false });
  const deadline = Date.now() + num('ready-timeout') * 1000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (opt.pid && !alive(Number(opt.pid))) throw new Error(`the cluster (pid ${opt.pid}) exited before it was ready`);
    try {
      const { body } = await request(agent, 'GET', '/_stats', 2000);
      if (body.readyWorkers === body.expectedWorkers) return body;
      last = `${body.readyWorkers} of ${body.expectedWorkers} workers ready`;
    } catch (err) {
      last = err.message;
    }
    await sleep(200);
  }
  throw new Error(`cluster not ready after ${opt['ready-timeout']} s: ${last}`);
}

class Results {
  constructor() {
    this.reads = 0;
    this.updates = 0;
    this.sources = { local: 0, shared: 0, origin: 0 };
    this.stale = [];
    this.errors = [];
    this.perWorker = new Map();
    this.latencies = [];
    // Highest version returned by a completed update, per id.
    this.completed = new Map();
    this.issuedVersions = new Map();
  }

  error(message) {
    this.errors.push(message);
  }

  /** Checks the shape and value of an item answer; returns false if broken. */
  checkItem(what, id, status, body) {
    if (status !== 200) {
      this.error(`${what} ${id}: status ${status} ${JSON.stringify(body).slice(0, 300)}`);
      return false;
    }
    if (body.id !== id || !Number.isInteger(body.version) || body.value !== valueOf(id, body.version)) {
      this.error(`${what} ${id}: corrupt answer ${JSON.stringify(body).slice(0, 300)}`);
      return false;
    }
    this.perWorker.set(body.worker, (this.perWorker.get(body.worker) ?? 0) + 1);
    return true;
  }
}

async function read(results, agent, id) {
  const floor = results.completed.get(id) ?? 1;
  const started = performance.now();
  const { status, body } = await request(agent, 'GET', `/item/${id}`);
  results.latencies.push(performance.now() - started);
  if (!results.checkItem('GET', id, status, body)) return;
  results.reads++;
  if (!(body.source in results.sources)) results.error(`GET ${id}: unknown source ${body.source}`);
  else results.sources[body.source]++;
  if (body.version < floor) {
    results.stale.push(`GET ${id}: version ${body.version} from ${body.worker} (${body.source}), ${floor} was complete before the read`);
  }
}

async function update(results, agent, id) {
  const started = performance.now();
  const { status, body } = await request(agent, 'POST', `/item/${id}`);
  results.latencies.push(performance.now() - started);
  if (!results.checkItem('POST', id, status, body)) return;
  results.updates++;
  const issued = results.issuedVersions.get(id) ?? new Set();
  if (issued.has(body.version)) results.error(`POST ${id}: version ${body.version} returned twice`);
  issued.add(body.version);
  results.issuedVersions.set(id, issued);
  results.completed.set(id, Math.max(results.completed.get(id) ?? 1, body.version));
}

async function drive(results) {
  const random = rng(num('seed'));
  const ids = num('ids');
  const hot = Math.min(ids, num('hot-ids'));
  const pick = () => String(random() < num('hot-share') ? Math.floor(random() * hot) : Math.floor(random() * ids));
  // One keep-alive socket per loop; the primary hands new connections to the
  // workers round robin, so the load spreads over all of them.
  const agent = new http.Agent({ keepAlive: true, maxSockets: num('concurrency'), scheduling: 'fifo' });
  const deadline = Date.now() + num('duration') * 1000;
  let issued = 0;
  const loop = async () => {
    while (issued < num('requests') && Date.now() < deadline) {
      issued++;
      const id = pick();
      const op = random() < num('write-ratio') ? update : read;
      try {
        await op(results, agent, id);
      } catch (err) {
        results.error(err.message);
      }
    }
  };
  await Promise.all(Array.from({ length: num('concurrency') }, loop));
  agent.destroy();
}

// With no update in flight, every worker must serve the last version of every
// updated id, from whichever layer answers. A fresh connection per request
// walks the workers round robin.
async function sweep(results, workers) {
  const agent = new http.Agent({ keepAlive: false });
  const ids = [...results.completed.keys()].slice(0, num('sweep-ids'));
  const seen = new Set();
  let reads = 0;
  const stale = [];
  for (const id of ids) {
    for (let i = 0; i < 2 * workers; i++) {
      try {
        const { status, body } = await request(agent, 'GET', `/item/${id}`);
        if (!results.checkItem('sweep GET', id, status, body)) continue;
        reads++;
        seen.add(body.worker);
        const expected = results.completed.get(id);
        if (body.version !== expected) {
          stale.push(`sweep GET ${id}: version ${body.version} from ${body.worker} (${body.source}), expected ${expected}`);
        }
      } catch (err) {
        results.error(err.message);
      }
    }
  }
  return { reads, stale, workersSeen: seen.size };
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0;
}

async function main() {
  const ready = await waitReady();
  const workers = ready.expectedWorkers;
  const results = new Results();
  const started = performance.now();
  await drive(results);
  const seconds = (performance.now() - started) / 1000;
  const swept = await sweep(results, workers);
  const { body: cluster } = await request(new http.Agent(), 'GET', '/_stats');

  const { reads, updates, sources } = results;
  const hitRatio = reads ? (sources.local + sources.shared) / reads : 0;
  const localRatio = reads ? sources.local / reads : 0;
  const sorted = results.latencies.sort((a, b) => a - b);
  const workerErrors = cluster.errors ?? [];
  const workerErrorCount = cluster.errorCount ?? workerErrors.length;
  const pct = (x) => `${(100 * x).toFixed(1)}%`;

  console.log(`variant ${cluster.variant} (RESP${cluster.protocol}), ${workers} workers, ${opt.concurrency} connections`);
  console.log(`requests ${reads + updates + results.errors.length} in ${seconds.toFixed(1)} s (${((reads + updates) / seconds).toFixed(0)}/s), ` +
    `latency p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms`);
  console.log(`reads ${reads}: local ${sources.local}, shared ${sources.shared}, origin ${sources.origin}; ` +
    `hit ratio ${pct(hitRatio)}, local hit ratio ${pct(localRatio)}`);
  console.log(`updates ${updates} on ${results.completed.size} ids; origin loads ${cluster.origin.loads}, updates ${cluster.origin.updates}`);
  const total = (field) => cluster.workers.reduce((sum, w) => sum + (w.cache?.[field] ?? 0), 0);
  console.log(`WATCH transactions: ${total('fillAborts')} read fills and ${total('writeRetries')} writes aborted by a concurrent write; ` +
    `invalidations applied ${total('invalidationsReceived')}`);
  console.log(`requests per worker: ${[...results.perWorker.entries()].map(([w, n]) => `${w} ${n}`).join(', ')}`);
  console.log(`stale reads: ${results.stale.length} during the load, ${swept.stale.length} of ${swept.reads} in the final sweep`);
  console.log(`errors: ${results.errors.length} client-side, ${workerErrorCount} reported by workers`);
  for (const line of [...results.stale, ...swept.stale].slice(0, 10)) console.log(`  stale: ${line}`);
  for (const line of results.errors.slice(0, 10)) console.log(`  client error: ${line}`);
  for (const { uid, message } of workerErrors.slice(0, 10)) console.log(`  worker error (${uid}): ${message.split('\n')[0]}`);

  const checks = [
    [`at least ${opt['min-requests']} requests completed`, reads + updates >= num('min-requests')],
    ['no stale read during the load', results.stale.length === 0],
    ['no stale read in the final sweep', swept.stale.length === 0],
    [`final sweep reached all ${workers} workers`, swept.workersSeen === workers],
    ['no client error', results.errors.length === 0],
    ['no worker error', workerErrorCount === 0],
    [`every worker served requests`, results.perWorker.size === workers],
    [`hit ratio ${pct(hitRatio)} >= ${pct(num('min-hit-ratio'))}`, hitRatio >= num('min-hit-ratio')],
    [`local hit ratio ${pct(localRatio)} >= ${pct(num('min-local-ratio'))}`, localRatio >= num('min-local-ratio')],
  ];
  let failed = 0;
  for (const [name, ok] of checks) {
    if (!ok) failed++;
    console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}`);
  }
  console.log(`checks: ${checks.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.error(`load test failed: ${err?.stack ?? err}`);
  process.exitCode = 1;
});

'use strict';
// Libraries whose atomic operations are Lua scripts on the server, under
// concurrent clients: rate-limiter-flexible (RateLimiterRedis) must admit
// exactly its points, and redlock must never let two holders in at once.
//
//   node test/run.js --server PATH   # starts PATH (forkv-server or redis-server)
//   node test/run.js --port N        # a server already listening
//
// Prints PASS/FAIL per check and a last line "N passed, N failed"; exits 1
// if a check failed.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');
const Redis = require('ioredis');
const { RateLimiterRedis } = require('rate-limiter-flexible');
const Redlock = require('redlock').default;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitPort(port, proc) {
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) break;
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server did not start');
}

async function checkRateLimiter(clients) {
  await clients[0].del('rl:user1', 'rl:user2');
  const limiters = clients.map((c) => new RateLimiterRedis({ storeClient: c, points: 100, duration: 30, keyPrefix: 'rl' }));
  let ok = 0;
  let rejected = 0;
  await Promise.all(Array.from({ length: 300 }, (_, i) =>
    limiters[i % limiters.length].consume('user1').then(() => ok++, () => rejected++)));
  assert.equal(ok, 100);
  assert.equal(rejected, 200);
  const res = await limiters[0].get('user1');
  assert.equal(res.consumedPoints, 300);
  // Other keys are counted apart; penalty and reward adjust the count.
  await limiters[1].consume('user2', 10);
  await limiters[2].penalty('user2', 5);
  await limiters[3].reward('user2', 3);
  assert.equal((await limiters[4].get('user2')).consumedPoints, 12);
}

async function checkRedlock(clients) {
  await clients[0].del('res');
  const redlock = new Redlock([clients[0]], { retryCount: 400, retryDelay: 5, retryJitter: 5 });
  let counter = 0;
  let inside = 0;
  let most = 0;
  await Promise.all(Array.from({ length: 50 }, async () => {
    const lock = await redlock.acquire(['res'], 5000);
    inside++;
    most = Math.max(most, inside);
    const v = counter;
    await new Promise((r) => setTimeout(r, 1));
    counter = v + 1;
    inside--;
    await lock.release();
  }));
  assert.equal(counter, 50);
  assert.equal(most, 1);
  // Extending a held lock keeps it; releasing frees the resource.
  const lock = await redlock.acquire(['res'], 1000);
  const longer = await lock.extend(5000);
  assert.ok((await clients[0].pttl('res')) > 1000);
  await longer.release();
  assert.equal(await clients[0].exists('res'), 0);
}

async function main() {
  const args = process.argv.slice(2);
  let port;
  let proc;
  let dir;
  const i = args.indexOf('--port');
  if (i >= 0) {
    port = Number(args[i + 1]);
  } else {
    const s = args.indexOf('--server');
    const server = s >= 0 ? args[s + 1] : process.env.FORKV_BIN;
    if (!server) throw new Error('pass --server PATH or --port N');
    port = await freePort();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkv-lua-clients.'));
    proc = spawn(server, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir], { stdio: 'ignore' });
    await waitPort(port, proc);
  }
  const clients = Array.from({ length: 5 }, () => new Redis({ port, host: '127.0.0.1' }));
  let passed = 0;
  let failed = 0;
  try {
    for (const [name, fn] of [['rate-limiter-flexible', checkRateLimiter], ['redlock', checkRedlock]]) {
      try {
        await fn(clients);
        passed++;
        console.log(`PASS ${name}`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${name}\n${e && e.stack}`);
      }
    }
  } finally {
    clients.forEach((c) => c.disconnect());
    if (proc) proc.kill('SIGTERM');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

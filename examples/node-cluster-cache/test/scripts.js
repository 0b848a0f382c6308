'use strict';
// Lua scripts through the Node.js clients' own helpers: ioredis
// `defineCommand` (EVALSHA, falling back to EVAL on NOSCRIPT) in RESP2 and
// RESP3, and node-redis `defineScript` (EVALSHA, loading on NOSCRIPT), with
// keys, arguments, a script error and concurrent calls.
//
//   node test/scripts.js --server PATH   # starts PATH (forkv-server or redis-server)
//   node test/scripts.js --port N        # a server already listening
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
const { createClient, defineScript } = require('redis');

const INCR_CAPPED = `
local v = tonumber(redis.call('get', KEYS[1]) or '0')
local cap = tonumber(ARGV[1])
if v >= cap then return {v, 0} end
redis.call('set', KEYS[1], v + 1)
return {v + 1, 1}
`;

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

async function checkIoredis(port, protocol) {
  const r = new Redis({ port, host: '127.0.0.1', protocol, lazyConnect: true });
  await r.connect();
  try {
    r.defineCommand('incrCapped', { numberOfKeys: 1, lua: INCR_CAPPED });
    r.defineCommand('boom', { numberOfKeys: 0, lua: "return redis.call('nosuch')" });
    await r.del('io:cap');
    await r.script('FLUSH');
    // First call: EVALSHA gets NOSCRIPT, ioredis retries with EVAL.
    assert.deepEqual(await r.incrCapped('io:cap', 3), [1, 1]);
    const all = await Promise.all(Array.from({ length: 10 }, () => r.incrCapped('io:cap', 3)));
    assert.equal(all.filter(([, changed]) => changed === 1).length, 2);
    assert.equal(await r.get('io:cap'), '3');
    const piped = await r.pipeline().incrCapped('io:cap', 5).incrCapped('io:cap', 5).exec();
    assert.deepEqual(piped.map(([err, v]) => [err, v]), [[null, [4, 1]], [null, [5, 1]]]);
    await assert.rejects(r.boom(), /Unknown Redis command called from script/);
  } finally {
    r.disconnect();
  }
}

async function checkNodeRedis(port, RESP) {
  const client = createClient({
    socket: { port, host: '127.0.0.1' },
    RESP,
    scripts: {
      incrCapped: defineScript({
        SCRIPT: INCR_CAPPED,
        NUMBER_OF_KEYS: 1,
        parseCommand(parser, key, cap) {
          parser.pushKey(key);
          parser.push(cap.toString());
        },
        transformReply: undefined,
      }),
    },
  });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.del('nr:cap');
    await client.scriptFlush();
    assert.deepEqual(await client.incrCapped('nr:cap', 2), [1, 1]);
    const all = await Promise.all(Array.from({ length: 5 }, () => client.incrCapped('nr:cap', 2)));
    assert.equal(all.filter(([, changed]) => changed === 1).length, 1);
    assert.equal(await client.get('nr:cap'), '2');
    assert.deepEqual(await client.scriptExists(client.incrCapped.SHA1 || defineScript({ SCRIPT: INCR_CAPPED, NUMBER_OF_KEYS: 1 }).SHA1), [1]);
  } finally {
    await client.quit();
  }
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
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkv-node-scripts.'));
    proc = spawn(server, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir], { stdio: 'ignore' });
    await waitPort(port, proc);
  }
  let passed = 0;
  let failed = 0;
  const checks = [
    ['ioredis defineCommand RESP3', () => checkIoredis(port, 3)],
    ['ioredis defineCommand RESP2', () => checkIoredis(port, 2)],
    ['node-redis defineScript RESP2', () => checkNodeRedis(port, 2)],
    ['node-redis defineScript RESP3', () => checkNodeRedis(port, 3)],
  ];
  try {
    for (const [name, fn] of checks) {
      try {
        await fn();
        passed++;
        console.log(`PASS ${name}`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${name}\n${e && e.stack}`);
      }
    }
  } finally {
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

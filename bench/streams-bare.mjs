// The baseline of bench/streams.mjs: a bare ws → BullMQ add loop with no daemon logic (no ordering
// chain, no dead letters, no heartbeats, no reconnects). One socket per account, each frame parsed and
// added to bare-user-data-<accountId mod shards>.
// Usage: node bench/streams-bare.mjs <restUrl> <wsUrl> <redisUrl> <prefix> <accountsFile> <shards>
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const { Queue } = require('bullmq');
const IORedis = require('ioredis');

const [restUrl, wsUrl, redisUrl, prefix, accountsFile, shardsArg] = process.argv.slice(2);
const shards = Number(shardsArg);
const accounts = JSON.parse(fs.readFileSync(accountsFile, 'utf8'));
const connection = new IORedis(redisUrl, { maxRetriesPerRequest: null });
const queues = Array.from({ length: shards }, (_, i) => new Queue(`bare-user-data-${i}`, { prefix: `{${prefix}}`, connection }));
const sockets = [];

for (const a of accounts) {
  const res = await fetch(`${restUrl}/fapi/v1/listenKey`, { method: 'POST', headers: { 'X-MBX-APIKEY': a.apiKey } });
  const { listenKey } = await res.json();
  const ws = new WebSocket(`${wsUrl}/private/ws?listenKey=${encodeURIComponent(listenKey)}`);
  ws.on('message', (data) => {
    const payload = JSON.parse(data.toString());
    queues[a.label % shards].add('ProcessUserDataEvent', { accountId: a.label, payload, receivedAt: Date.now(), apiSystem: 'binance' }).catch((err) => process.stderr.write(`add failed: ${err.message}\n`));
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  sockets.push(ws);
}
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  for (const ws of sockets) ws.close(1000);
  await Promise.all(queues.map((q) => q.close()));
  await connection.quit();
  process.exit(0);
});

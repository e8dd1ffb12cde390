#!/usr/bin/env node
// The baseline of bench/web: a bare fastify (same version as `web`) answering "hello world".
import Fastify from 'fastify';

const port = Number(process.argv[2] ?? 0);
const app = Fastify({ logger: false });
app.get('/hello', async () => 'hello world\n');
const address = await app.listen({ port, host: '127.0.0.1' });
process.stdout.write(`listening on ${address}\n`);
const stop = () => app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

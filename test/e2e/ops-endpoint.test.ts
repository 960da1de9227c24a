import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { CliProcess, runCli } from '../helpers/cli.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

let redis: TestRedis;
before(async () => { redis = await startRedis({ appendonly: true }); });
after(async () => { await redis.stop(); });

const functions = fileURLToPath(new URL('../fixtures/ops', import.meta.url));

function counter(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

test('/metrics counters move with invocations; /healthz is up; /readyz fails while Redis is down', async () => {
  const dev = new CliProcess(['dev', '--dir', functions, '--redis', redis.url, '--namespace', 'ops', '--partitions', '2', '--http-port', '0', '--log', 'json']);
  try {
    const started = JSON.parse(await dev.waitForLine((l) => l.includes('"kind":"started"'), 'dev started')) as { httpPort: number };
    const base = `http://127.0.0.1:${started.httpPort}`;
    await dev.waitForLine((l) => l.includes('"kind":"loaded"'), 'counter loaded');
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);

    const emit = (n: number) => runCli(['emit', 'ops.tick', '--key', `k${n}`, '--redis', redis.url, '--namespace', 'ops']);
    for (let i = 0; i < 3; i++) assert.equal((await emit(i)).code, 0);
    const labels = 'function="counter",status="ok"';
    await waitFor(async () => counter(await (await fetch(`${base}/metrics`)).text(), 'fnrun_invocations_total', labels) === 3, { message: '3 invocations counted' });
    for (let i = 3; i < 5; i++) assert.equal((await emit(i)).code, 0);
    await waitFor(async () => counter(await (await fetch(`${base}/metrics`)).text(), 'fnrun_invocations_total', labels) === 5, { message: 'counter moved to 5' });
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /fnrun_invocation_duration_seconds_count\{function="counter"\} 5/);
    assert.match(text, /fnrun_lag_events\{function="counter",partition="0"\} 0/);
    assert.match(text, /fnrun_pending_events\{function="counter",partition="1"\} 0/);
    assert.match(text, /fnrun_sandbox_rss_bytes \d+/);
    assert.match(text, /fnrun_isolate_heap_used_bytes\{function="counter",version="[0-9a-f]{12}"\} [1-9]\d*/);

    await redis.kill();
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 503, { message: '/readyz fails while Redis is down' });
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'the process itself is alive');
    await redis.restart();
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, { message: '/readyz recovers' });
    assert.equal((await emit(9)).code, 0);
    await waitFor(async () => counter(await (await fetch(`${base}/metrics`)).text(), 'fnrun_invocations_total', labels) === 6, { message: 'events flow again after the Redis restart' });
  } finally {
    assert.equal(await dev.stop(), 0);
  }
});

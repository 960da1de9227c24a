import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Publisher, Runtime, createJsonLogger } from '../../runtime/index.ts';
import { fixtureFunctions } from '../helpers/fixtures.ts';
import { Recorder } from '../helpers/recorder.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('groups');

test('a parallel group: a member that retries does not make the other run again', async () => {
  const recorder = new Recorder();
  const runtime = await Runtime.create({ redis: env.redis.url, namespace: 'par', partitions: 2, functionsDir: fixtureFunctions('parallel'), logger: createJsonLogger('silent'), onInvocation: recorder.record });
  await runtime.start();
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'par' });
  try {
    const n = 30;
    await publisher.publishBatch(Array.from({ length: n }, (_, i) => ({ type: 'pair.made', key: `k${i % 5}`, data: { i } })));
    await waitFor(() => recorder.count('right') === n && recorder.count('left') === n, { message: 'both members done' });
    assert.equal(recorder.of('left').length, n, 'left ran once per event');
    assert.equal(recorder.count('right', 'retry'), n);
    const pending = await env.redis.client().xpending(runtime.keys.partition(0).events, 'group:both');
    assert.equal((pending as [number])[0], 0);
  } finally {
    await publisher.close();
    await runtime.stop();
  }
});

interface Line { fn: string; id: string; status: string; attempt: number }

test('a sequential group after a crash: the member that completed is not run again', async () => {
  const recordFile = join(env.dir, 'steps.ndjson');
  const script = fileURLToPath(new URL('../helpers/runtime-process.ts', import.meta.url));
  const launch = () => {
    const child = spawn(process.execPath, [script, JSON.stringify({ redis: env.redis.url, functionsDir: fixtureFunctions('group-crash'), partitions: 1, recordFile })], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ready = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    return { child, ready };
  };
  const read = (): Line[] => (existsSync(recordFile) ? readFileSync(recordFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : []);

  const first = launch();
  await first.ready;
  const publisher = await Publisher.connect({ redis: env.redis.url, partitions: 1 });
  const { id, partition } = await publisher.publish('step.taken', 'k', {});
  const event = `${partition}/${id}`;
  // step-one completed; step-two failed and now waits ten minutes before its retry.
  await waitFor(() => read().some((l) => l.fn === 'step-two' && l.id === event && l.status === 'retry'), { message: 'step two failed once' });
  const exited = new Promise((resolve) => first.child.once('exit', resolve));
  first.child.kill('SIGKILL');
  await exited;

  const second = launch();
  await second.ready;
  try {
    await waitFor(() => read().some((l) => l.fn === 'step-two' && l.id === event && l.status === 'ok'), { message: 'step two succeeded after restart' });
  } finally {
    second.child.kill('SIGTERM');
    await new Promise((resolve) => second.child.once('exit', resolve));
    await publisher.close();
  }
  const lines = read().filter((l) => l.id === event);
  assert.deepEqual(lines.map((l) => `${l.fn}:${l.status}:${l.attempt}`), ['step-one:ok:1', 'step-two:retry:1', 'step-two:ok:2']);
});

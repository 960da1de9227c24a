/**
 * Redis losing a commit it had acknowledged — a failover to a replica that lagged, a restart
 * without fsync — must not let a key's later events complete before its earlier ones, which the
 * pending list holds again. Reproduced with a restart from a snapshot taken before the commit: the
 * worker's next commit names the lost one as its predecessor, is refused, and the partition is
 * read again from its pending entries, in order.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Keys, Publisher, Runtime, createJsonLogger } from '../../runtime/index.ts';
import { CommitBatch } from '../../runtime/worker/commit-batch.ts';
import { writeCommit } from '../../runtime/worker/commit.ts';
import { withScripts } from '../../runtime/redis/scripts.ts';
import { startHttpServer, type TestHttpServer } from '../helpers/http-test-server.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('lost-commit', { topology: 'single' });
let http: TestHttpServer;
before(async () => { http = await startHttpServer(); });
after(() => http.close());

test('a commit whose predecessor is not the last one applied is refused with FENCED LOSTCOMMIT and writes nothing', async () => {
  const redis = withScripts(env.redis.client());
  const pk = new Keys('chain').partition(0);
  await redis.xgroup('CREATE', pk.events, 'g', '0', 'MKSTREAM');
  const target = { redis, pk, group: 'g', members: ['f'], marks: false };
  const emit = (n: string) => {
    const b = new CommitBatch();
    b.part('f', 'v1').emits.push({ stream: pk.events, fields: ['type', 'out', 'data', n, 'time', '0'] });
    return b;
  };
  await writeCommit(target, emit('1'), 'c-1', '', '');
  await writeCommit(target, emit('2'), 'c-2', '', 'c-1');
  await assert.rejects(writeCommit(target, emit('4'), 'c-4', '', 'c-3'), /^Error: FENCED LOSTCOMMIT|FENCED LOSTCOMMIT/);
  assert.equal(await redis.xlen(pk.events), 2, 'the refused commit wrote nothing');
  assert.equal(await redis.hget(pk.commits, 'g'), 'c-2');
  await writeCommit(target, emit('2'), 'c-2', '', 'c-1'); // a resend of the last one applied: nothing twice
  assert.equal(await redis.xlen(pk.events), 2);
});

test('after Redis lost an acknowledged commit, the key\'s events complete again in order, before the event that was in flight', async () => {
  const dir = join(env.dir, 'functions');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'steps.ts'), `export const config = { events: ['step'], network: { allow: ['127.0.0.1:${http.port}'] } };
export default async function handler(event: { key: string; data: { seq: number; hang?: boolean } }, ctx: { attempt: number; emit(t: string, k: string | null, d: unknown): Promise<void> }) {
  if (event.data.hang && ctx.attempt === 1) await fetch('${http.origin}/hang');
  await ctx.emit('step.done', event.key, { seq: event.data.seq });
}
`);
  const redis = env.redis.client();
  const runtime = await Runtime.create({ redis: env.redis.url, namespace: 'lost', partitions: 1, functionsDir: dir, logger: createJsonLogger('silent') });
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'lost' });
  const pk = new Keys('lost').partition(0);
  const done = async () => ((await redis.xrange(pk.events, '-', '+')) as [string, string[]][])
    .filter(([, f]) => f[f.indexOf('type') + 1] === 'step.done')
    .map(([, f]) => (JSON.parse(f[f.indexOf('data') + 1]!) as { seq: number }).seq);
  try {
    await runtime.start();
    for (let seq = 0; seq < 3; seq++) await publisher.publish('step', 'k', { seq });
    await waitFor(async () => (await done()).length === 3, { timeoutMs: 20_000, message: 'the first three completed' });
    await publisher.publishBatch([3, 4, 5].map((seq) => ({ type: 'step', key: 'k', data: { seq, hang: seq === 3 } })));
    await waitFor(() => http.hanging === 1, { timeoutMs: 20_000, message: 'event 3 in flight' });
    // The snapshot Redis will come back from: 0-2 completed, 3-5 read and pending.
    await redis.save();
    http.release();
    await waitFor(async () => (await done()).length === 6, { timeoutMs: 20_000, message: 'events 3-5 completed' });
    await publisher.publish('step', 'k', { seq: 6, hang: true });
    await waitFor(() => http.hanging === 2, { timeoutMs: 20_000, message: 'event 6 in flight' });

    // Redis comes back from the snapshot: the commit of 3-5 is lost, and event 6 too (published again).
    await env.redis.kill(true);
    await env.redis.restart();
    await publisher.publish('step', 'k', { seq: 6 });
    http.release(); // the lost event 6 completes in the worker: its commit must not land before 3-5's redo
    await waitFor(async () => (await done()).includes(6) && ((await redis.xpending(pk.events, 'fn:steps')) as [number])[0] === 0, { timeoutMs: 30_000, message: 'everything completed again' });
    const seqs = await done();
    assert.deepEqual(seqs.slice(0, 3), [0, 1, 2], 'the snapshot');
    assert.deepEqual(seqs.slice(3), [3, 4, 5, 6], 'the lost completions were redone, in order, before event 6');
  } finally {
    http.release();
    await publisher.close();
    await runtime.stop();
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Keys, Runtime, createJsonLogger } from '../../runtime/index.ts';
import { parseWindowBound, replayWindow } from '../../runtime/dead-letters/replay.ts';
import { encodeFields } from '../../runtime/events/wire.ts';
import { runCli } from '../helpers/cli.ts';
import { fixtureFunctions } from '../helpers/fixtures.ts';
import { Recorder } from '../helpers/recorder.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('replay');

test('replay --from re-runs one function over an hour-old window; the other function does not see it', async () => {
  // A clock we control: "now" is fixed; history is written with explicit ids an hour before it.
  const now = Date.now();
  const hourAgo = now - 3_600_000;
  const client = env.redis.client();
  const keys = new Keys('hist');
  await client.hset(keys.meta, 'partitions', '1');
  const stream = keys.partition(0).events;
  const old: string[] = [];
  for (let i = 0; i < 10; i++) {
    old.push(await client.xadd(stream, `${hourAgo + i * 60_000}-0`, ...encodeFields('hist.made', `k${i % 2}`, JSON.stringify({ i }), hourAgo + i * 60_000)) as string);
  }
  const recorder = new Recorder();
  const runtime = await Runtime.create({ redis: env.redis.url, namespace: 'hist', functionsDir: fixtureFunctions('replay'), logger: createJsonLogger('silent'), onInvocation: recorder.record });
  try {
    await runtime.start();
    // Functions start at new events: the history is not theirs until replayed.
    // Window: from 65 to 53 minutes before "now": entries 0..7 (entry i is i minutes after hourAgo).
    const copied = await replayWindow(client, keys, 1, 'target', {
      fromId: parseWindowBound('65m', now, 'from'), toId: parseWindowBound('53m', now, 'to'), maxEventBytes: 1 << 20,
    });
    assert.equal(copied, 8);
    await waitFor(() => recorder.count('target') === 8, { message: 'target re-ran the window' });
    const replayedOf = (await client.xrange(stream, '(' + old[9], '+')) as [string, string[]][];
    assert.deepEqual(replayedOf.map(([, f]) => (JSON.parse(f[f.indexOf('headers') + 1]!) as Record<string, string>)['fnrun-replay-of']), old.slice(0, 8));

    // Through the CLI, relative to the real clock: the two newest of the hour-old entries.
    const cli = await runCli(['replay', 'target', '--from', String(hourAgo + 8 * 60_000), '--to', `${hourAgo + 9 * 60_000}-0`, '--redis', env.redis.url, '--namespace', 'hist', '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal((JSON.parse(cli.stdout) as { replayed: number }).replayed, 2);
    await waitFor(() => recorder.count('target') === 10, { message: 'CLI replay ran' });
    // A sentinel after the replays: once bystander handled it, it has passed every replayed entry.
    const sentinel = await client.xadd(stream, '*', ...encodeFields('hist.made', 'z', '{}', Date.now()));
    await waitFor(() => recorder.of('bystander').some((r) => r.eventId === sentinel), { message: 'bystander passed the replays' });
    assert.equal(recorder.count('bystander'), 1, 'bystander saw only the sentinel');
  } finally {
    await runtime.stop();
  }
});

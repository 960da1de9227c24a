import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Status } from '../../runtime/ops/status.ts';
import { CliProcess, runCli } from '../helpers/cli.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { stuckScenario, type StuckScenario } from '../helpers/stuck-scenario.ts';

let scenario: StuckScenario | null = null;
const env = useTestEnv('status-e2e', {
  setup: async (redis) => { scenario = await stuckScenario(redis, 'e2e'); },
  teardown: async () => { await scenario?.stop(); },
});

const common = () => ['--redis', env.redis.url, '--namespace', 'e2e'];

test('fnrun status --json reports the blocked function, its stuck key and the dead letters', async () => {
  const result = await runCli(['status', ...common(), '--json']);
  assert.equal(result.code, 0, result.stderr);
  const s = JSON.parse(result.stdout) as Status;
  const fn = (name: string) => s.functions.find((f) => f.name === name)!;
  assert.equal(s.namespace, 'e2e');
  assert.equal(s.rateWindowMs, null);
  assert.ok(fn('stuck').lag! > 0 && fn('stuck').pending >= 1 && fn('stuck').retriesInFlight === 1);
  assert.deepEqual(fn('stuck').stuck.map((e) => [e.key, e.type, e.id, e.attempts]), [['poison', 'job.run', scenario!.poison.id, 1]]);
  assert.deepEqual([fn('healthy').lag, fn('healthy').pending], [0, 0]);
  assert.equal(fn('doomed').deadLetters, 2);
});

test('fnrun status prints tables; an unknown namespace is a one-line error', async () => {
  const result = await runCli(['status', ...common()]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^stuck\s+\S+\*\s+fn:stuck\s+\d+\s+\d+\s+\S+ \(p\d\)\s+1\s+0\s+-$/m);
  assert.match(result.stdout, new RegExp(`^stuck\\s+${scenario!.poison.partition}\\s+poison\\s+job\\.run\\s+${scenario!.poison.id}\\s`, 'm'));

  const missing = await runCli(['status', '--redis', env.redis.url, '--namespace', 'nope']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^fnrun: namespace "nope" does not exist/);
});

test('fnrun status --watch --json prints a sample per second with rates from the second on, and exits 0 on SIGINT', async () => {
  const watch = new CliProcess(['status', ...common(), '--watch', '--json']);
  await watch.waitForLine(() => watch.json().length >= 2, 'two samples');
  const [first, second] = watch.json<Status>();
  assert.equal(first!.rateWindowMs, null);
  assert.ok(second!.rateWindowMs! > 0);
  assert.equal(second!.functions.find((f) => f.name === 'healthy')!.eventsPerSecond, 0, 'nothing new was read between the samples');
  assert.equal(await watch.stop('SIGINT'), 0);
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { assertNoLeaks } from '../helpers/test-env.ts';

test('the integration leak check fails on a timer or a server left running, and passes once they are stopped', async () => {
  const baseline = countNow();
  const timer = setInterval(() => {}, 1000);
  await assert.rejects(assertNoLeaks(baseline), /left running after the last test: Timeout ×1/);
  clearInterval(timer);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await assert.rejects(assertNoLeaks(baseline), /TCPServerWrap ×1/);
  await new Promise((resolve) => server.close(resolve));
  await assertNoLeaks(baseline);
});

test('a test file that leaves a timer running fails, naming it', () => {
  const file = fileURLToPath(new URL('../fixtures/leak/leaks-a-timer.ts', import.meta.url));
  // Without NODE_TEST_CONTEXT, or the inner run would report into this one instead of exiting.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const run = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', timeout: 60_000, env });
  assert.notEqual(run.status, 0);
  assert.match(run.stdout + run.stderr, /left running after its last test and hooks: Timeout ×1/);
});

function countNow(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
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

function countNow(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

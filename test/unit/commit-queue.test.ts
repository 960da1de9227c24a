import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../runtime/logger.ts';
import type { CommitBatch } from '../../runtime/worker/commit-batch.ts';
import { CommitQueue } from '../../runtime/worker/commit-queue.ts';

function queue(write: (batch: CommitBatch, id: string) => Promise<void> = async () => {}) {
  const written: { id: string; acks: string[] }[] = [];
  let n = 0;
  const q = new CommitQueue({
    write: async (batch, id) => { await write(batch, id); written.push({ id, acks: [...batch.acks] }); },
    fenced: () => {}, nextCommitId: () => `c${++n}`, sleep: async () => {}, logger: silentLogger, where: {},
  });
  return { q, written };
}

test('what is settled right after a commit landed is committed too (no lost wake-up between two writes)', async () => {
  const { q, written } = queue();
  q.acked('1-0');
  await q.flush();
  // Runs before the write loop has fully wound down: its wake-up must not be lost.
  q.acked('2-0');
  const second = q.flush();
  const timedOut = await Promise.race([second.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 2_000))]);
  assert.equal(timedOut, false, 'the second flush resolved');
  assert.deepEqual(written.map((w) => w.acks), [['1-0'], ['2-0']]);
});

test('a commit that fails for a transient reason is sent again with the same id; one that is fenced rejects what waits', async () => {
  let failures = 1;
  const { q, written } = queue(async () => { if (failures-- > 0) throw new Error('connection lost'); });
  q.acked('1-0');
  await q.flush();
  assert.deepEqual(written.map((w) => w.id), ['c1']);

  const fenced = queue(async () => { throw new Error('FENCED this process no longer holds the partition lease'); });
  fenced.q.acked('1-0');
  await assert.rejects(fenced.q.flush(), /FENCED/);
  assert.equal(fenced.q.fenced, true);
});

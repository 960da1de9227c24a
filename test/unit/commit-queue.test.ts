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

test('a completion that fills a batch shares its commit with its ack: a batch is cut between events only', async () => {
  const batches: { acks: string[]; emits: number }[] = [];
  let n = 0;
  const q = new CommitQueue({
    write: async (batch) => { batches.push({ acks: [...batch.acks], emits: [...batch.parts.values()].reduce((s, p) => s + p.emits.length, 0) }); },
    fenced: () => {}, nextCommitId: () => `c${++n}`, sleep: async () => {}, logger: silentLogger, where: {},
  });
  const fn = { name: 'f', version: 'v1' };
  const fields = Array.from({ length: 998 }, () => 'x'); // with its 2, 1,000 arguments per emit
  for (let e = 0; e < 5; e++) {
    const id = `${e}-0`;
    // 15,000 arguments per event: the second one takes the batch past MAX_COMMIT_ARGS (20,000).
    q.completed(fn, id, Array.from({ length: 15 }, () => ({ stream: 's', fields, outboxed: false })), null, false);
    q.acked(id);
  }
  await q.flush();
  assert.ok(batches.length > 1, 'cut into several commits');
  for (const b of batches) assert.equal(b.emits, 15 * b.acks.length, `each commit holds the emits of exactly the events it acks (${b.acks.join(',')})`);
});

test('a write that never gets a reply is sent again, as the same commit, after the reply deadline', { timeout: 10_000 }, async () => {
  const sent: string[] = [];
  let n = 0;
  const q = new CommitQueue({
    // The first send's reply is lost (never settles), as a client can lose one across a reconnect.
    write: (batch, id) => { sent.push(id); return sent.length === 1 ? new Promise(() => {}) : Promise.resolve(); },
    fenced: () => {}, nextCommitId: () => `c${++n}`, sleep: async () => {}, logger: silentLogger, where: {}, replyTimeoutMs: 50,
  });
  q.acked('1-0');
  await q.flush();
  assert.deepEqual(sent, ['c1', 'c1']);
  // The chain goes on from it: the next commit names it as its previous one.
  q.acked('2-0');
  await q.flush();
  assert.deepEqual(sent, ['c1', 'c1', 'c2']);
});

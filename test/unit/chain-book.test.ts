/**
 * The host's chain book after a restart: which chains go to the new sandbox process, and when.
 * Driven through its hooks (which functions are loaded again, what was sent), as the host does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChainBook, type ChainRequest } from '../../runtime/sandbox/host/chain-book.ts';
import type { InvocationResult } from '../../runtime/types.ts';

function setup() {
  const ready = new Set<string>();
  const sent: { fnId: string; cids: number[] }[] = [];
  const book = new ChainBook({
    canSend: (fnId) => ready.has(fnId),
    send: (fnId, chains) => {
      sent.push({ fnId, cids: chains.map((c) => c.cid) });
      return true;
    },
  });
  const results: string[] = [];
  const chain = (fnId: string, exclusive = false): ChainRequest => ({
    fnId, items: '[]', count: 1, state: null, exclusive, timeoutMs: 1000,
    onResult: (_i: number, r: InvocationResult) => results.push(`${fnId}:${r.status}`),
    readState: () => Promise.resolve('{}'),
  });
  /** The child answers the last chain sent to `fnId`. */
  const finish = (fnId: string) => {
    const cid = sent.filter((s) => s.fnId === fnId).at(-1)!.cids[0]!;
    book.results([[cid, 0, '{"status":"ok","emits":[],"logs":[]}']]);
  };
  return { ready, sent, book, chain, finish, results };
}

test('a suspect whose function is still reloading holds back neither other suspects nor other chains', () => {
  const { ready, sent, book, chain, finish } = setup();
  // Suspects of an unexplained crash, the slow function's first; then ordinary chains.
  book.submit(chain('slow', true));
  book.submit(chain('fast', true));
  book.submit(chain('other'));
  ready.add('fast');
  book.flush();
  assert.deepEqual(sent.map((s) => s.fnId), ['fast'], 'the first suspect that can run, runs, alone');
  ready.add('other');
  book.flush();
  assert.deepEqual(sent.map((s) => s.fnId), ['fast'], 'nothing else while a suspect runs');
  finish('fast');
  assert.deepEqual(sent.map((s) => s.fnId), ['fast', 'other'], 'no suspect can run: the others go');
  ready.add('slow');
  book.flush();
  assert.deepEqual(sent.map((s) => s.fnId), ['fast', 'other'], 'a suspect that can run waits for what is in flight');
  book.submit(chain('other'));
  book.flush();
  finish('other');
  assert.deepEqual(sent.map((s) => s.fnId), ['fast', 'other', 'slow'], 'then runs alone, before the chains queued meanwhile');
  finish('slow');
  assert.deepEqual(sent.map((s) => s.fnId), ['fast', 'other', 'slow', 'other']);
});

test('a second death with a suspect alone in flight names it', () => {
  const { ready, book, chain, results } = setup();
  ready.add('a');
  book.submit(chain('a', true));
  book.flush();
  book.orphan(null, 'the sandbox process exited unexpectedly (SIGKILL)');
  assert.deepEqual(results, ['a:error']);
});

test('a death the child calls blameless (a disposed isolate ran on) charges no one: a suspect alone in flight is skipped, and not suspected again', () => {
  const { ready, book, chain } = setup();
  const outcomes: InvocationResult[] = [];
  ready.add('a');
  book.submit({ ...chain('a', true), onResult: (_i, r) => outcomes.push(r) });
  book.flush();
  book.orphan(null, 'the sandbox process grew by 200 MiB while 1 disposed isolate(s) still ran', true);
  assert.deepEqual(outcomes, [{ status: 'skipped' }]);
});

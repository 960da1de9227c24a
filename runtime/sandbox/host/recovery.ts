/**
 * Settling the requests a kill or a crash cut short (parent side). A request found guilty keeps the
 * results the child had received, re-runs one at a time the events that had finished but were not
 * flushed yet, fails at the culprit event and skips the rest. A request that was alone when the child
 * died unexplained is re-run one event at a time, alone, so the next crash names the event.
 */
import { SandboxError } from '../../errors.ts';
import type { InvocationResult } from '../../types.ts';
import { culpritParts, splitBatch, type InvokeOp, type LoadOp } from './requests.ts';
import type { Culprit } from '../protocol.ts';
import type { Scheduler } from './scheduler.ts';

/** Settles a request found guilty of a kill (of its isolate or of the whole process). */
export function blame(scheduler: Scheduler, op: LoadOp | InvokeOp, c: Culprit): void {
  if (op.kind === 'load') {
    op.reject(new SandboxError(`${op.spec.name}: cannot load: ${c.message}`, { code: 'ERR_SANDBOX_LOAD' }));
    return;
  }
  const { done, index, failure } = culpritParts(op, c);
  void rerunThenSettle(scheduler, op, done, index, failure);
}

/** A request that was alone in flight when the child died without saying why. */
export function blameAlone(scheduler: Scheduler, op: LoadOp | InvokeOp, reason: string): void {
  const message = `the sandbox process died while running it (${reason}); it was restarted`;
  if (op.kind === 'load' || op.count === 1) {
    blame(scheduler, op, { fnId: op.fnId, rid: op.rid, index: 0, kind: 'crash', message, done: '[]', durationMs: 0 });
    return;
  }
  op.exclusive = true;
  void rerunThenSettle(scheduler, op, [], op.count, null);
}

/**
 * Re-runs events `done.length .. upTo-1` one at a time (alone if `op` is a suspect), stopping at
 * the first error; then appends `failure` and skips the rest.
 */
async function rerunThenSettle(scheduler: Scheduler, op: InvokeOp, done: InvocationResult[], upTo: number, failure: InvocationResult | null): Promise<void> {
  try {
    const items = done.length < upTo ? splitBatch(op.batch) : [];
    let failed = done.some((r) => r.status === 'error');
    for (let i = done.length; i < upTo && !failed; i++) {
      const [r] = await new Promise<InvocationResult[]>((resolve, reject) => {
        scheduler.submit({ ...op, batch: items[i] as string, count: 1, rid: 0, deadlineAt: 0, resolve, reject }, op.exclusive);
      });
      done.push(r as InvocationResult);
      failed = r?.status === 'error';
    }
    if (!failed && failure !== null) done.push(failure);
    while (done.length < op.count) done.push({ status: 'skipped' });
    op.resolve(done);
  } catch (e) {
    op.reject(e instanceof Error ? e : new SandboxError(String(e)));
  }
}

import type { InvocationRecord } from '../../runtime/index.ts';

/** Collects invocation records, indexed for assertions. */
export class Recorder {
  readonly all: InvocationRecord[] = [];
  readonly record = (r: InvocationRecord): void => {
    this.all.push(r);
  };

  of(fn: string, status?: InvocationRecord['status']): InvocationRecord[] {
    return this.all.filter((r) => r.function === fn && (status === undefined || r.status === status));
  }

  count(fn: string, status: InvocationRecord['status'] = 'ok'): number {
    let n = 0;
    for (const r of this.all) if (r.function === fn && r.status === status) n++;
    return n;
  }
}

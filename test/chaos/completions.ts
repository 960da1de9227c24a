/**
 * Reading completions (committed `chaos.done` emits) from the partition streams, incrementally:
 * the drain polls until none is missing, and a long run has millions of them.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../../runtime/index.ts';
import { crossSlotPipeline } from '../../runtime/redis/pipeline.ts';
import { DONE_TYPE } from './fixture.ts';
import type { PublishedKey } from './producer.ts';

const PAGE = 5000;

/** The completions of one function: per key, the seqs in stream order, and which seqs were seen. */
export class FunctionCompletions {
  /** Per key, the seqs of its `chaos.done` entries in stream order (duplicates included). */
  readonly byKey = new Map<string, number[]>();
  private readonly seen = new Map<string, Uint8Array>();

  add(key: string, seq: number): void {
    let list = this.byKey.get(key);
    if (list === undefined) this.byKey.set(key, (list = []));
    list.push(seq);
    let bits = this.seen.get(key);
    if (bits === undefined || seq >= bits.length) {
      const bigger = new Uint8Array(Math.max(1024, (seq + 1) * 2));
      if (bits) bigger.set(bits);
      this.seen.set(key, (bits = bigger));
    }
    bits[seq] = 1;
  }

  has(key: string, seq: number): boolean {
    return this.seen.get(key)?.[seq] === 1;
  }

  /** Published (key, seq) without a completion. */
  missing(published: Map<string, PublishedKey>): { key: string; p: PublishedKey; i: number }[] {
    const out: { key: string; p: PublishedKey; i: number }[] = [];
    for (const [key, p] of published) {
      for (let i = 0; i < p.seqs.length; i++) if (!this.has(key, p.seqs[i]!)) out.push({ key, p, i });
    }
    return out;
  }

  missingCount(published: Map<string, PublishedKey>): number {
    let n = 0;
    for (const [key, p] of published) for (const seq of p.seqs) if (!this.has(key, seq)) n++;
    return n;
  }
}

/** Reads the `chaos.done` entries appended since the last poll, for every function. */
export class CompletionReader {
  private readonly redis: Redis;
  private readonly keys: Keys;
  private readonly partitions: number;
  private readonly after: string[];
  private readonly byFn = new Map<string, FunctionCompletions>();

  constructor(redis: Redis, keys: Keys, partitions: number) {
    this.redis = redis;
    this.keys = keys;
    this.partitions = partitions;
    this.after = Array.from({ length: partitions }, () => '-');
  }

  of(fn: string): FunctionCompletions {
    let m = this.byFn.get(fn);
    if (m === undefined) this.byFn.set(fn, (m = new FunctionCompletions()));
    return m;
  }

  /** Only called once the faults are over, so nothing read can vanish (a failover drops unreplicated writes). */
  async poll() {
    let open = Array.from({ length: this.partitions }, (_, p) => p);
    while (open.length > 0) {
      // One page of every partition still being read, in one (cross-slot) pipeline.
      const pipeline = crossSlotPipeline(this.redis);
      for (const p of open) pipeline.xrange(this.keys.partition(p).events, this.after[p] === '-' ? '-' : `(${this.after[p]}`, '+', 'COUNT', PAGE);
      const replies = (await pipeline.exec()) ?? [];
      const next: number[] = [];
      open.forEach((p, n) => {
        const [error, entries] = replies[n] ?? [new Error('no reply'), null];
        if (error) throw error;
        for (const [id, fields] of entries as [string, string[]][]) {
          this.after[p] = id;
          this.take(fields);
        }
        if ((entries as unknown[]).length === PAGE) next.push(p);
      });
      open = next;
    }
  }

  private take(fields: string[]) {
    let type = '';
    let key = '';
    let data = '';
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === 'type') type = fields[i + 1]!;
      else if (fields[i] === 'key') key = fields[i + 1]!;
      else if (fields[i] === 'data') data = fields[i + 1]!;
    }
    if (type !== DONE_TYPE) return;
    const { fn, seq } = JSON.parse(data) as { fn: string; seq: number };
    this.of(fn).add(key, seq);
  }
}

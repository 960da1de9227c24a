/**
 * The chaos run's producer: a steady rate of events with a per-key sequence number, each published
 * durably (retried with the same dedupe id until it succeeds), and what it published, compactly.
 */
import type { Redis } from 'ioredis';
import { Publisher } from '../../runtime/index.ts';
import { connectRedis } from '../../runtime/redis/redis.ts';
import { EVENT_TYPE } from './fixture.ts';
import { sleep } from './options.ts';

/** What was published for one key: seq → stream id, in publish (= seq) order. */
export class PublishedKey {
  readonly partition: number;
  readonly seqs: number[] = [];
  private readonly idMs: number[] = [];
  private readonly idSeq: number[] = [];

  constructor(partition: number) {
    this.partition = partition;
  }

  add(seq: number, id: string): void {
    const dash = id.indexOf('-');
    this.seqs.push(seq);
    this.idMs.push(Number(id.slice(0, dash)));
    this.idSeq.push(Number(id.slice(dash + 1)));
  }

  id(i: number): string {
    return `${this.idMs[i]}-${this.idSeq[i]}`;
  }

  /** Index of `seq`, or -1. Seqs are published in order from 1, so this is usually seq − 1. */
  indexOf(seq: number): number {
    return this.seqs[seq - 1] === seq ? seq - 1 : this.seqs.indexOf(seq);
  }

  /** Entries appended out of seq order (stream ids must grow with seq). */
  orderViolations(): number {
    let violations = 0;
    for (let i = 1; i < this.seqs.length; i++) {
      if (this.idMs[i - 1]! > this.idMs[i]! || (this.idMs[i - 1] === this.idMs[i] && this.idSeq[i - 1]! >= this.idSeq[i]!)) violations++;
    }
    return violations;
  }
}

/** The largest batch one publish sends: after a stall the producer catches up in these. */
const MAX_BATCH = 500;
/**
 * Independent publishing lanes, each owning the keys `k<n>` with n % LANES equal to its index, so
 * each key keeps its strict order while several batches (of different keys) are in flight: one
 * lane's round trips (pipeline, WAIT with fsync-always AOF on two nodes) cap it below 2,000 events/s.
 */
const LANES = 4;

/**
 * Publishes `rate` events/s (on average, in small batches; it catches up after a stall) with a
 * per-key sequence number and a dedupe id per event, in {@link LANES} lanes of keys. A failed
 * batch is retried with the same events (same dedupe ids, so a publish that did land is not
 * appended twice) until it succeeds, and the lane's next batch waits for it: per key, seq n+1 is
 * never published before seq n. An event counts as published only once its publish resolved.
 *
 * Replicated topologies: a publish the primary acknowledged is lost by a failover unless the
 * replica has it, so the Publisher runs with `waitForReplicas: { replicas: 1 }` (WAIT after each
 * batch, on every master of a Cluster; NotReplicatedError on a shortfall → retry with the same
 * dedupe ids). The Publisher closes the two holes of a bare WAIT (a reconnect between the batch
 * and the WAIT; a retry of dedupe hits that writes nothing); the harness checks that: an attempt
 * that resolved although the connection dropped during it is recorded, and whether its events
 * survived is a failure criterion.
 */
export class Producer {
  readonly published = new Map<string, PublishedKey>();
  count = 0;
  batches = 0;
  attempts = 0;
  readonly failures = new Map<string, number>();
  dedupeHits = 0;
  /** Events of attempts whose WAIT succeeded although the connection dropped during the attempt. */
  readonly waitAcrossReconnect: { key: string; seq: number; id: string }[] = [];
  private readonly seqs = new Map<string, number>();
  private readonly redis: Redis;
  private readonly publisher: Publisher;
  private generation = 0;
  private stopping = false;
  private loops: Promise<void>[] = [];
  /** Events created and not yet published, per lane. */
  private readonly queues: { key: string; seq: number }[][] = Array.from({ length: LANES }, () => []);

  private constructor(redis: Redis, publisher: Publisher) {
    this.redis = redis;
    this.publisher = publisher;
    redis.on('close', () => { this.generation++; });
    // A Cluster client reports a dropped node connection this way.
    redis.on('-node', () => { this.generation++; });
  }

  static async connect(url: string, namespace: string, partitions: number, replicated: boolean): Promise<Producer> {
    const redis = await connectRedis(url, 'chaos-producer');
    const publisher = await Publisher.connect({ redis, namespace, partitions, ...(replicated ? { waitForReplicas: { replicas: 1, timeoutMs: 1000 } } : {}) });
    return new Producer(redis, publisher);
  }

  start(rate: number, keys: number, random: () => number) {
    const began = Date.now();
    let created = 0;
    const create = (async () => {
      while (!this.stopping) {
        const due = Math.floor(((Date.now() - began) * rate) / 1000) - created;
        // Created no faster than published: a long stall must not pile up an unbounded queue.
        const queued = this.queues.reduce((n, q) => n + q.length, 0);
        if (due <= 0 || queued >= LANES * MAX_BATCH) { await sleep(5); continue; }
        for (let i = 0; i < Math.min(due, MAX_BATCH); i++) {
          const n = Math.floor(random() * keys);
          const key = `k${n}`;
          const seq = (this.seqs.get(key) ?? 0) + 1;
          this.seqs.set(key, seq);
          this.queues[n % LANES]!.push({ key, seq });
          created++;
        }
      }
    })();
    const lanes = this.queues.map(async (queue) => {
      // On stop, what was created is still published (a created seq is never skipped).
      while (!this.stopping || queue.length > 0) {
        if (queue.length === 0) { await sleep(5); continue; }
        await this.publishDurably(queue.splice(0, MAX_BATCH));
      }
    });
    this.loops = [create, ...lanes];
  }

  async stop() {
    this.stopping = true;
    await Promise.all(this.loops);
    await this.publisher.close();
    this.redis.disconnect();
  }

  /** The final stream id of (key, seq), if it was published. */
  idOf(key: string, seq: number): string | undefined {
    const list = this.published.get(key);
    const i = list?.indexOf(seq) ?? -1;
    return i < 0 ? undefined : list!.id(i);
  }

  private async publishDurably(batch: { key: string; seq: number }[]) {
    const input = batch.map(({ key, seq }) => ({ type: EVENT_TYPE, key, data: { seq }, dedupeId: `${key}:${seq}` }));
    for (let attempt = 1; ; attempt++) {
      this.attempts++;
      const generation = this.generation;
      try {
        const results = await this.publisher.publishBatch(input);
        if (this.generation !== generation) {
          // The Publisher's WAIT said "replicated"; remember what it returned, to see at the end whether it lasted.
          results.forEach((r, i) => this.waitAcrossReconnect.push({ key: batch[i]!.key, seq: batch[i]!.seq, id: r.id }));
          throw new Error('reconnected during the publish');
        }
        results.forEach((r, i) => {
          const { key, seq } = batch[i]!;
          let list = this.published.get(key);
          if (list === undefined) this.published.set(key, (list = new PublishedKey(r.partition)));
          list.add(seq, r.id);
          if (r.duplicate) this.dedupeHits++;
        });
        this.count += batch.length;
        this.batches++;
        return;
      } catch (error) {
        const reason = (error as Error).message.replace(/\d+/g, 'N').slice(0, 120);
        this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
        await sleep(Math.min(25 * attempt, 500));
      }
    }
  }
}

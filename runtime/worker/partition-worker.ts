/**
 * The loop of one consumer group on one partition: read a batch (pending entries first, then new
 * ones), run the group's functions over it, commit, repeat; wait on the wake watcher when idle.
 */
import { Commit } from './commit.ts';
import type { ConsumerGroup } from './consumer-group.ts';
import type { FailureRecord } from '../dead-letters/dead-letter-record.ts';
import { settleFunction, type PriorState, type SettleContext } from './function-settler.ts';
import { CONSUMER_NAME } from '../redis/keys.ts';
import type { PartitionWaker } from './wake/wake-watcher.ts';
import { parseGroupsInfo } from '../redis/stream-info.ts';
import { decodeEntry, type DecodedEntry } from '../events/wire.ts';

type StreamReply = [string, [string, string[] | null][]][] | null;

export class PartitionWorker {
  readonly group: ConsumerGroup;
  readonly partition: number;
  private readonly ctx: SettleContext;
  private readonly watcher: PartitionWaker;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private readonly sleepers = new Set<() => void>();
  /** The group's last-delivered id on this stream: what the watcher waits past when idle. */
  private lastDeliveredId = '0-0';

  private readonly token: string;
  private readonly onFenced: (partition: number) => void;

  /**
   * `token` is the partition's lease (`''` when this process owns every partition unfenced); a read
   * or commit that finds the lease changed stops the worker and calls `onFenced`.
   */
  constructor(
    group: ConsumerGroup,
    partition: number,
    ctx: Omit<SettleContext, 'sleep' | 'stopping' | 'group' | 'pk' | 'partition' | 'fence'>,
    watcher: PartitionWaker,
    token: string,
    onFenced: (partition: number) => void,
  ) {
    this.group = group;
    this.partition = partition;
    this.watcher = watcher;
    this.token = token;
    this.onFenced = onFenced;
    this.ctx = {
      ...ctx, group: group.name, partition, pk: ctx.keys.partition(partition),
      sleep: (ms) => this.sleep(ms), stopping: () => this.stopping, fence: () => token,
    };
  }

  /**
   * Creates the consumer group if needed and starts reading. If Redis is unreachable, the loop
   * keeps trying (with backoff) instead of leaving the partition without a worker.
   */
  async start(): Promise<void> {
    if (this.loop) return;
    let ready = true;
    try {
      await this.ensureGroup();
    } catch (error) {
      ready = false;
      this.ctx.logger.error({ err: error, group: this.group.name, partition: this.partition }, 'cannot create the consumer group yet; retrying');
    }
    this.loop = this.run(ready);
  }

  /** Stops reading, lets the batch in flight finish its current invocation, commits it. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of this.sleepers) wake();
    await this.loop;
  }

  private async ensureGroup(): Promise<void> {
    const stream = this.ctx.pk.events;
    try {
      await this.ctx.redis.xgroup('CREATE', stream, this.group.name, this.group.startFrom === 'earliest' ? '0' : '$', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
    await this.refreshLastDelivered();
  }

  /** Reads the group's last-delivered id: where to wait from when idle. */
  private async refreshLastDelivered(): Promise<void> {
    const groups = parseGroupsInfo((await this.ctx.redis.xinfo('GROUPS', this.ctx.pk.events)) as unknown[]);
    const mine = groups.find((g) => g.name === this.group.name);
    if (mine) this.lastDeliveredId = mine.lastDeliveredId;
  }

  private async run(ready: boolean): Promise<void> {
    let recovering = true;
    let failures = 0;
    let woken = false;
    let seenEpoch = this.ctx.connectionEpoch();
    while (!this.stopping) {
      try {
        if (!ready) {
          await this.ensureGroup();
          ready = true;
        }
        // A reconnect since the last read: a read whose reply was lost (ioredis resent it), or
        // commits a failover dropped, leave entries pending under our name that nobody works on.
        // Re-read the pending list; and again if the connection drops during this read.
        const epoch = this.ctx.connectionEpoch();
        if (epoch !== seenEpoch) {
          seenEpoch = epoch;
          recovering = true;
        }
        const entries = await this.read(recovering ? '0' : '>');
        if (this.ctx.connectionEpoch() !== epoch) continue;
        if (entries.length === 0) {
          if (recovering) { recovering = false; continue; }
          // Woken for entries that another reader (an earlier worker of this partition) already
          // took: our last-delivered id is behind. Refresh it, or the watcher would wake us at once again.
          if (woken) await this.refreshLastDelivered();
          await this.watcher.waitFor(this.partition, this.lastDeliveredId);
          woken = true;
          continue;
        }
        woken = false;
        if (!recovering) this.lastDeliveredId = entries[entries.length - 1]!.id;
        const prior = recovering ? await this.loadPrior(entries) : null;
        const completed = await this.process(entries, prior);
        if (!completed) return;
        failures = 0;
      } catch (error) {
        if (isFenced(error)) {
          // Another process owns the partition now; what we did not commit, it redoes.
          this.stopping = true;
          this.ctx.logger.warn({ group: this.group.name, partition: this.partition }, 'partition lease lost; worker stopped');
          this.onFenced(this.partition);
          return;
        }
        if (error instanceof Error && error.message.includes('NOGROUP')) {
          // The stream or its group is gone (deleted by hand, or Redis restarted without its data):
          // recreate it and say so loudly; events appended before that are not known to this group.
          ready = false;
          this.ctx.logger.error({ group: this.group.name, partition: this.partition }, 'consumer group missing (NOGROUP): recreating it; was the stream deleted or Redis restarted without persistence?');
        }
        // Redis unreachable, a sandbox restart, a bug: whatever was not committed is still pending,
        // so go back to reading the pending list once the backoff is over.
        recovering = true;
        failures++;
        this.ctx.logger.error({ err: error, group: this.group.name, partition: this.partition }, 'partition worker error; retrying');
        await this.sleep(Math.min(100 * 2 ** Math.min(failures, 6), 5000));
      }
    }
  }

  private async read(cursor: '0' | '>'): Promise<DecodedEntry[]> {
    const { redis, pk, batchSize } = this.ctx;
    const reply = (this.token === ''
      ? await redis.call('XREADGROUP', 'GROUP', this.group.name, CONSUMER_NAME, 'COUNT', batchSize, 'STREAMS', pk.events, cursor)
      : await redis.fnrunRead(pk.events, pk.lease, this.token, this.group.name, CONSUMER_NAME, batchSize, cursor)) as StreamReply;
    const raw = reply?.[0]?.[1];
    if (!raw || raw.length === 0) return [];
    const entries = new Array<DecodedEntry>(raw.length);
    for (let i = 0; i < raw.length; i++) entries[i] = decodeEntry(raw[i]![0], raw[i]![1], this.ctx.maxEventBytes);
    return entries;
  }

  private async process(entries: DecodedEntry[], prior: Map<string, PriorState> | null): Promise<boolean> {
    const members = this.group.members;
    const solo = members.length === 1;
    const doneKeys = solo ? [] : members.map((m) => this.ctx.pk.done(this.group.name, m.name));
    if (this.group.mode === 'parallel' && !solo) {
      const results = await Promise.all(members.map((fn) => settleFunction(this.ctx, fn, entries, 'mark', [], prior?.get(fn.name) ?? null)));
      if (results.includes(false)) return false;
      const ack = new Commit();
      for (const e of entries) ack.settle(e.id);
      await ack.flush(this.ctx.redis, this.ctx.pk, this.group.name, members[members.length - 1]!, 'ack', doneKeys, this.token);
      return true;
    }
    for (let m = 0; m < members.length; m++) {
      const fn = members[m]!;
      const last = m === members.length - 1;
      const ok = await settleFunction(this.ctx, fn, entries, last ? 'ack' : 'mark', last ? doneKeys : [], prior?.get(fn.name) ?? null);
      if (!ok) return false;
    }
    return true;
  }

  /** For pending entries: their delivery counts, stored failures and per-function completions. */
  private async loadPrior(entries: DecodedEntry[]): Promise<Map<string, PriorState>> {
    const ids = entries.map((e) => e.id);
    const { redis, pk } = this.ctx;
    const pipeline = redis.pipeline();
    pipeline.xpending(pk.events, this.group.name, ids[0]!, ids[ids.length - 1]!, ids.length, CONSUMER_NAME);
    for (const fn of this.group.members) {
      pipeline.hmget(pk.attempts(fn.name), ...ids);
      pipeline.hmget(pk.done(this.group.name, fn.name), ...ids);
    }
    const replies = (await pipeline.exec()) ?? [];
    const deliveries = new Map<string, number>();
    for (const row of (replies[0]?.[1] ?? []) as [string, string, number, number][]) deliveries.set(row[0], Number(row[3]));
    const prior = new Map<string, PriorState>();
    this.group.members.forEach((fn, m) => {
      const attempts = (replies[1 + 2 * m]?.[1] ?? []) as (string | null)[];
      const done = (replies[2 + 2 * m]?.[1] ?? []) as (string | null)[];
      const failures = new Map<string, FailureRecord>();
      const doneSet = new Set<string>();
      ids.forEach((id, i) => {
        if (attempts[i]) failures.set(id, JSON.parse(attempts[i]!) as FailureRecord);
        if (done[i]) doneSet.add(id);
      });
      prior.set(fn.name, { failures, deliveries, done: doneSet });
    });
    return prior;
  }

  /** Resolves true after `ms`, false at once if the worker is stopping. */
  private sleep(ms: number): Promise<boolean> {
    if (this.stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => { clearTimeout(timer); this.sleepers.delete(wake); resolve(false); };
      const timer = setTimeout(() => { this.sleepers.delete(wake); resolve(!this.stopping); }, ms);
      this.sleepers.add(wake);
    });
  }
}

function isFenced(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('FENCED');
}


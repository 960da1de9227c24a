/**
 * Collects what one function settled in a batch (completions, dead letters, emits) and writes it
 * with one call of the `commit` Lua script.
 */
import type { PartitionKeys } from '../redis/keys.ts';
import { outboxFields } from './outbox-relay.ts';
import type { ScriptedRedis } from '../redis/scripts.ts';

export class Commit {
  private ids: string[] = [];
  private deadLetters: string[][] = [];
  private emits: { stream: string; fields: string[] }[] = [];
  /** Emits bound for the outbox since the last flush (see outbox-relay.ts). */
  outboxed = 0;

  get isEmpty(): boolean {
    return this.ids.length === 0;
  }

  settle(id: string): void {
    this.ids.push(id);
  }

  deadLetter(fields: string[]): void {
    this.deadLetters.push(fields);
  }

  /**
   * Queues an emitted event. `outbox` is the emitting partition's outbox when the target partition
   * lives in another slot of a Redis Cluster: the event then waits there for the relay.
   */
  emit(stream: string, fields: string[], outbox: { key: string; to: number } | null): void {
    if (outbox === null) this.emits.push({ stream, fields });
    else {
      this.emits.push({ stream: outbox.key, fields: outboxFields(outbox.to, fields) });
      this.outboxed++;
    }
  }

  /**
   * Writes and resets. `mode` 'ack' acknowledges the ids for `group` and clears the done marks in
   * `clearDone`; 'mark' records them done for `fn` only. A non-empty `token` must still be the
   * partition's lease, or the write fails with FENCED and nothing is written. Returns how many
   * emits went to the outbox.
   */
  async flush(
    redis: ScriptedRedis,
    pk: PartitionKeys,
    group: string,
    fn: { name: string; version: string },
    mode: 'ack' | 'mark',
    clearDone: readonly string[],
    token: string,
  ): Promise<number> {
    if (this.ids.length === 0 && this.deadLetters.length === 0 && this.emits.length === 0) return 0;
    const keys: string[] = [
      pk.events, pk.attempts(fn.name), pk.done(group, fn.name), pk.deadLetters(fn.name),
      pk.lease, pk.activeVersions, pk.takeovers(fn.name), ...clearDone,
    ];
    const args: (string | number)[] = [group, mode, token, fn.name, fn.version, this.ids.length, ...this.ids, clearDone.length, this.deadLetters.length];
    for (const fields of this.deadLetters) args.push(fields.length, ...fields);
    args.push(this.emits.length);
    const streamIndex = new Map<string, number>();
    for (const { stream, fields } of this.emits) {
      let index = streamIndex.get(stream);
      if (index === undefined) {
        keys.push(stream);
        index = keys.length; // Lua KEYS are 1-based
        streamIndex.set(stream, index);
      }
      args.push(index, fields.length, ...fields);
    }
    await redis.fnrunCommit(keys.length, ...keys, ...args);
    this.ids = [];
    this.deadLetters = [];
    this.emits = [];
    const outboxed = this.outboxed;
    this.outboxed = 0;
    return outboxed;
  }
}

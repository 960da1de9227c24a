/**
 * What one commit writes for one consumer group on one partition: completions, dead letters,
 * emits, state writes and failure records per function, and the acks of events every member
 * settled. Built in memory as events settle; written by one call of the commit script
 * (commit.ts), so everything in it happens atomically, or not at all.
 */

/** A state change of one (function, key). */
export interface StateChange {
  /** The state hash (keys.ts `state`). */
  hash: string;
  /** name → JSON text, or null to delete. */
  writes: Map<string, string | null>;
  ttlMs: number | null;
}

/** What one function settled in this commit. */
export interface FunctionPart {
  readonly name: string;
  readonly version: string;
  /** Completed (or dead-lettered) by this function while other members still have the event. */
  readonly marks: string[];
  /** Failure records (`[id, json]`): attempts so far, so a crash loop still ends in the DLQ. */
  readonly failures: [string, string][];
  /** XADD field lists for the function's DLQ. */
  readonly dead: string[][];
  /** Emitted events: target stream (or the outbox) and field list. */
  readonly emits: { stream: string; fields: string[] }[];
  readonly state: Map<string, StateChange>;
  /** Entries read but never started before a graceful stop: their next delivery is not an attempt. */
  readonly released: string[];
  /** First event this function completed in this commit, for the "which version handled it" record. */
  firstId: string | null;
}

export class CommitBatch {
  readonly acks: string[] = [];
  readonly parts = new Map<string, FunctionPart>();
  /** Redis arguments this commit will take, roughly; the queue starts a new commit past a budget. */
  args = 0;
  /** Characters of its arguments, roughly. */
  chars = 0;
  /** The part asked for last: one function settles many events in a row. */
  #last: FunctionPart | null = null;

  get isEmpty(): boolean {
    return this.acks.length === 0 && this.parts.size === 0;
  }

  /** The part of function `name` at `version` (a reload mid-commit gives the new version a part of its own). */
  part(name: string, version: string): FunctionPart {
    const last = this.#last;
    if (last !== null && last.name === name && last.version === version) return last;
    const key = `${name}\u0000${version}`;
    let p = this.parts.get(key);
    if (p === undefined) {
      p = { name, version, marks: [], failures: [], dead: [], emits: [], state: new Map(), released: [], firstId: null };
      this.parts.set(key, p);
      this.args += 16;
    }
    this.#last = p;
    return p;
  }

  ack(id: string): void {
    this.acks.push(id);
    this.args += 1;
    this.chars += id.length;
  }

  /** Accounts for `fields` (an emit or a dead letter) in the size estimate. */
  count(fields: readonly string[]): void {
    this.args += fields.length + 2;
    for (const f of fields) this.chars += f.length;
  }
}

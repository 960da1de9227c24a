/**
 * The checks of fnrun's promises over what the run recorded, per function: nothing lost, per-key
 * order, duplicates only inside fault windows (see harness.ts for what "handled" and "completed" mean).
 */
import type { FunctionCompletions } from './completions.ts';
import type { HandlingLog } from './handlings.ts';
import type { Producer, PublishedKey } from './producer.ts';
import { iso, type DuplicateExample, type FaultRecord, type FunctionReport } from './report.ts';

/**
 * Per-key order, precisely. For one function and one key, let first(s) be the earliest handling
 * of seq s (by {@link HandlingLog.before}; among unordered ties, any). The order holds when there
 * are no s < s' with first(s') strictly before first(s): each event is handled for the first time
 * only after every earlier event of its key was handled at least once. A later handling of s — a
 * redelivery after s' was handled, e.g. by a new owner re-running the batch a killed or fenced
 * process had in flight — is a duplicate (see {@link explainDuplicates}), not an order violation.
 *
 * Each violation counted is an s whose first handling is strictly before the latest first
 * handling of the seqs below it.
 */
export function checkOrder(log: HandlingLog): { violations: number; examples: string[] } {
  let violations = 0;
  const examples: string[] = [];
  for (const [key, list] of log.byKey) {
    const first = new Map<number, number>();
    for (const h of list) {
      const f = first.get(log.seq(h));
      if (f === undefined || log.before(h, f)) first.set(log.seq(h), h);
    }
    const seqs = [...first.keys()].sort((a, b) => a - b);
    let latest = -1;
    for (const s of seqs) {
      const h = first.get(s)!;
      if (latest >= 0 && log.before(h, latest)) {
        violations++;
        if (examples.length < 10) examples.push(`${key}: seq ${s} first handled by ${log.procName(h)} at ${iso(log.time(h))}, before seq ${log.seq(latest)} (by ${log.procName(latest)} at ${iso(log.time(latest))})`);
      }
      if (latest < 0 || log.before(latest, h)) latest = h;
    }
  }
  return { violations, examples };
}

/**
 * A duplicate is every handling of a (key, seq) after its first. Each is explained when a fault
 * window straddles it and the handling before it: some fault f with
 *     previous.time ≤ f.end  and  this.time ≥ f.start,
 * where f runs from the moment the harness began it (SIGKILL, SIGSTOP, redis-server SIGKILL,
 * failover request, slot migration) to the moment it observed the system recovered (every
 * partition leased to a live process, balanced, and no lease moving for a whole TTL). That covers
 * the redeliveries fnrun documents: a killed process's in-flight batch run again by the new owner,
 * a paused process finishing its batch after SIGCONT while the new owner also ran it (its commit
 * is fenced), an in-flight commit lost to a Redis restart or failover and redone. Two handlings
 * both before or both after every fault window (steady state, and graceful handovers, which
 * README says never run an event twice) are unexplained.
 */
export function explainDuplicates(log: HandlingLog, faults: FaultRecord[]) {
  let duplicates = 0;
  let events = 0;
  let explained = 0;
  const byFault: Record<string, number> = {};
  const byAttempt: Record<string, number> = {};
  const unexplainedExamples: DuplicateExample[] = [];
  const explainedExamples: DuplicateExample[] = [];
  for (const [key, list] of log.byKey) {
    const bySeq = new Map<number, number[]>();
    for (const h of list) {
      const l = bySeq.get(log.seq(h));
      if (l === undefined) bySeq.set(log.seq(h), [h]);
      else l.push(h);
    }
    for (const [seq, hs] of bySeq) {
      if (hs.length < 2) continue;
      events++;
      hs.sort((a, b) => log.compare(a, b));
      const example: DuplicateExample = {
        key, seq, explainedBy: null,
        handlings: hs.map((i) => { const h = log.get(i); return { proc: log.procName(i), time: iso(h.time), partition: h.partition, eventId: h.eventId, attempt: h.attempt }; }),
      };
      let allExplained = true;
      for (let i = 1; i < hs.length; i++) {
        duplicates++;
        const prev = hs[i - 1]!;
        const cur = hs[i]!;
        byAttempt[String(log.attempt(cur))] = (byAttempt[String(log.attempt(cur))] ?? 0) + 1;
        const f = faults.find((f) => log.time(prev) <= f.end && log.time(cur) >= f.start);
        if (f) {
          explained++;
          byFault[`${f.n} ${f.kind}`] = (byFault[`${f.n} ${f.kind}`] ?? 0) + 1;
          example.explainedBy ??= f.n;
        } else {
          allExplained = false;
        }
      }
      if (!allExplained && unexplainedExamples.length < 20) unexplainedExamples.push(example);
      if (allExplained && explainedExamples.length < 5) explainedExamples.push(example);
    }
  }
  return { duplicates, events, explained, byFault, byAttempt, unexplainedExamples, explainedExamples };
}

/** Completions per key in stream order: each seq once, and increasing. */
function checkCommitted(completed: FunctionCompletions) {
  let violations = 0;
  let twice = 0;
  let count = 0;
  const examples: string[] = [];
  for (const [key, seqs] of completed.byKey) {
    const once = new Set<number>();
    let max = 0;
    for (const s of seqs) {
      if (once.has(s)) {
        twice++;
        if (examples.length < 10) examples.push(`${key} seq ${s} completed twice`);
        continue;
      }
      once.add(s);
      count++;
      if (s < max) {
        violations++;
        if (examples.length < 10) examples.push(`${key} seq ${s} completed after seq ${max}`);
      }
      max = Math.max(max, s);
    }
  }
  return { violations, twice, count, examples };
}

export function checkFunction(published: Map<string, PublishedKey>, completed: FunctionCompletions, seen: HandlingLog, faults: FaultRecord[]): FunctionReport {
  const missing = completed.missing(published);
  const committed = checkCommitted(completed);
  const order = checkOrder(seen);
  const dups = explainDuplicates(seen, faults);
  let publishedCount = 0;
  for (const l of published.values()) publishedCount += l.seqs.length;
  return {
    published: publishedCount,
    completed: committed.count,
    handlings: seen.size,
    lost: missing.length,
    lostExamples: missing.slice(0, 10).map(({ key, p, i }) => {
      const hs = (seen.byKey.get(key) ?? []).filter((h) => seen.seq(h) === p.seqs[i]);
      return {
        key, seq: p.seqs[i]!, partition: p.partition, id: p.id(i), handled: hs.length,
        handlings: hs.map((h) => { const x = seen.get(h); return `${seen.procName(h)} at ${iso(x.time)} p${x.partition}/${x.eventId} attempt ${x.attempt}`; }),
      };
    }),
    duplicates: dups.duplicates,
    duplicateEvents: dups.events,
    explainedDuplicates: dups.explained,
    unexplainedDuplicates: dups.duplicates - dups.explained,
    duplicatesByFault: dups.byFault,
    duplicatesByAttempt: dups.byAttempt,
    unexplainedExamples: dups.unexplainedExamples,
    explainedExamples: dups.explainedExamples,
    orderViolations: order.violations,
    orderExamples: order.examples,
    committedOrderViolations: committed.violations,
    committedTwice: committed.twice,
    committedExamples: committed.examples,
    completedWithoutLog: completedWithoutLog(completed, seen),
    dlq: 0,
    pendingAfterDrain: 0,
  };
}

/** Completions of a (key, seq) for which `known` has no such seq. */
function countUnknown(completed: FunctionCompletions, known: (key: string) => Set<number>): number {
  let n = 0;
  for (const [key, seqs] of completed.byKey) {
    const seqsOfKey = known(key);
    for (const s of seqs) if (!seqsOfKey.has(s)) n++;
  }
  return n;
}

/** Completions of events nobody published. */
export const phantomCount = (published: Map<string, PublishedKey>, completed: FunctionCompletions): number =>
  countUnknown(completed, (key) => new Set(published.get(key)?.seqs ?? []));
/** Completions without a "seen" log line. */
export const completedWithoutLog = (completed: FunctionCompletions, seen: HandlingLog): number => countUnknown(completed, (key) => seen.seqsOf(key));

/** Per key, the producer's sequence numbers must be appended in increasing stream-id order. */
export function checkPublishOrder(published: Map<string, PublishedKey>): number {
  let violations = 0;
  for (const list of published.values()) violations += list.orderViolations();
  return violations;
}

/** For the events of {@link Producer.waitAcrossReconnect}: did the confirmed entry last (the final publish returned the same id)? */
export function checkWaitAcrossReconnect(producer: Producer): { waitAcrossReconnect: number; waitAcrossReconnectLost: number } {
  let lost = 0;
  for (const w of producer.waitAcrossReconnect) {
    const final = producer.idOf(w.key, w.seq);
    if (final !== undefined && final !== w.id) lost++;
  }
  return { waitAcrossReconnect: producer.waitAcrossReconnect.length, waitAcrossReconnectLost: lost };
}

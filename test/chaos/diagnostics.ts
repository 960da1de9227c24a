/**
 * What a failed chaos run prints to explain itself: the Redis state of the partitions with missing
 * completions, and every process's warn/error lines.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../../runtime/index.ts';
import type { CompletionReader } from './completions.ts';
import { FUNCTIONS, GROUP_OF } from './fixture.ts';
import type { PublishedKey } from './producer.ts';
import type { StartProcess } from './start-process.ts';

export async function drainDiagnostics(redis: Redis, keys: Keys, published: Map<string, PublishedKey>, completions: CompletionReader): Promise<string> {
  const out: string[] = ['--- drain timed out: what is missing'];
  try {
    const partitionsMissing = new Set<number>();
    for (const fn of FUNCTIONS) {
      const missing = completions.of(fn).missing(published);
      out.push(`${fn}: ${missing.length} missing; first: ${missing.slice(0, 8).map(({ key, p, i }) => `${key}#${p.seqs[i]}@p${p.partition}/${p.id(i)}`).join(', ')}`);
      for (const { p } of missing) partitionsMissing.add(p.partition);
    }
    for (const p of [...partitionsMissing].sort((a, b) => a - b)) {
      const pk = keys.partition(p);
      const lease = await redis.get(pk.lease);
      const groups = (await redis.xinfo('GROUPS', pk.events)) as unknown[][];
      const summary = groups.map((g) => {
        const o: Record<string, unknown> = {};
        for (let i = 0; i < g.length; i += 2) o[String(g[i])] = g[i + 1];
        return `${String(o.name)} pending=${String(o.pending)} last-delivered=${String(o['last-delivered-id'])} lag=${String(o.lag)}`;
      });
      const attempts = await Promise.all(FUNCTIONS.map(async (fn) => `${fn} attempts=${await redis.hlen(pk.attempts(fn))}`));
      out.push(`p${p}: lease ${lease}; ${summary.join('; ')}; ${attempts.join(', ')}`);
      for (const g of Object.values(GROUP_OF)) {
        const rows = (await redis.xpending(pk.events, g, '-', '+', 10)) as [string, string, number, number][];
        if (rows.length > 0) out.push(`  p${p} ${g} pending (id, consumer, idle ms, deliveries): ${rows.map((r) => r.join(' ')).join('; ')}`);
      }
    }
  } catch (error) {
    out.push(`(diagnostics failed: ${(error as Error).message})`);
  }
  return out.join('\n');
}

export function processDiagnostics(history: StartProcess[]): string {
  const out: string[] = ['--- warn/error lines of every fnrun start process (last 30 each), then its stderr'];
  for (const p of history) {
    out.push(`[${p.name}] started ${new Date(p.startedAt).toISOString()}, member ${p.member}, exit ${JSON.stringify(p.exit)}, ${p.problemCount} warn/error lines`);
    for (const line of p.problems.slice(-30)) out.push(`[${p.name}] ${line}`);
    if (p.stderr.trim()) out.push(`[${p.name} stderr] ${p.stderr.slice(-1500)}`);
  }
  return out.join('\n');
}

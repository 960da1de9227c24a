/**
 * What became of events sent or replayed from this tab: their invocations, matched in the live
 * feed by partition and event id.
 */
import { duration } from '../format.ts';
import { outcomeOf } from '../live.ts';
import type { FeedRecord } from '../types.ts';
import { Outcome } from './outcome.tsx';

export interface Replay { fn: string; of: string; partition: number; eventId: string; type: string | null }

export function ReplayList({ replays, records }: { replays: readonly Replay[]; records: readonly FeedRecord[] }) {
  if (replays.length === 0) return null;
  return (
    <section class="panel replays" aria-label="Replays from this page">
      <h3>Replays</h3>
      <ul class="plain">
        {replays.map((r) => {
          const seen = outcomeOf(records, { partition: r.partition, eventId: r.eventId, fn: r.fn });
          const last = seen[0];
          const verdict = last === undefined ? 'waiting for the outcome…'
            : last.status === 'ok' ? `replay succeeded in ${duration(last.durationMs)}`
            : last.status === 'retry' ? `replay failed (attempt ${last.attempt}); retrying`
            : 'replay failed again';
          return (
            <li key={`${r.partition}/${r.eventId}`} class={`replay replay-${last?.status ?? 'waiting'}`} role="status">
              <span>{r.fn} · {r.type ?? ''} <span class="mono muted">{r.of} → {r.partition}/{r.eventId}</span></span>
              {last ? <Outcome r={last} /> : null}
              <span>{verdict}</span>
              {last?.error ? <span class="muted clip">{last.error.name}: {last.error.message}</span> : null}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** Outcome badges: a word and a colour (never the colour alone). */
import type { FeedRecord } from '../types.ts';

const LABEL: Record<FeedRecord['status'], string> = { ok: 'ok', retry: 'retry', 'dead-lettered': 'dead-lettered', dropped: 'dropped' };

export function Outcome({ r }: { r: Pick<FeedRecord, 'status' | 'attempt' | 'retryInMs'> }) {
  const detail = r.status === 'retry' && r.retryInMs !== undefined ? ` ${r.attempt} · next in ${Math.round(r.retryInMs)} ms`
    : r.status === 'ok' ? (r.attempt > 1 ? ` · attempt ${r.attempt}` : '')
    : ` · ${r.attempt} attempt${r.attempt === 1 ? '' : 's'}`;
  return <span class={`badge badge-${r.status}`}>{LABEL[r.status]}{detail}</span>;
}

export function Health({ health }: { health: 'ok' | 'failing' }) {
  return <span class={`badge ${health === 'ok' ? 'badge-ok' : 'badge-dead-lettered'}`}>{health}</span>;
}

/** Dead letters: list, one with its mapped stack and event, replay one or all, purge (confirmed). */
import { useEffect, useState } from 'preact/hooks';
import { get, post, seg } from '../api.ts';
import { dateTime, pretty } from '../format.ts';
import { functionNames, useLive } from '../live.ts';
import { useConfirm } from '../parts/confirm.tsx';
import { ErrorView } from '../parts/error-view.tsx';
import { FunctionSelect } from '../parts/select.tsx';
import { ReplayList, type Replay } from '../parts/replays.tsx';
import type { DeadLetter } from '../types.ts';

export function DeadLettersPage({ query, canChange }: { query: URLSearchParams; canChange: boolean }) {
  const live = useLive();
  const [fn, setFn] = useState(query.get('fn') ?? '');
  const [letters, setLetters] = useState<DeadLetter[] | null>(null);
  const [selected, setSelected] = useState<DeadLetter | null>(null);
  const [message, setMessage] = useState<{ text: string; bad?: boolean } | null>(null);
  const [replays, setReplays] = useState<Replay[]>([]);
  const [confirmDialog, ask] = useConfirm();
  const total = (live.status?.functions ?? []).reduce((sum, f) => sum + f.deadLetters, 0);

  const load = () => get<DeadLetter[]>(`dead-letters?fn=${seg(fn)}&limit=500`).then(setLetters, (e: Error) => setMessage({ text: e.message, bad: true }));
  useEffect(() => void load(), [fn, total]);
  useEffect(() => setSelected((s) => (s && letters?.some((l) => l.id === s.id && l.function === s.function) ? s : null)), [letters]);

  const act = async (work: () => Promise<string>) => {
    setMessage(null);
    try {
      setMessage({ text: await work() });
    } catch (error) {
      setMessage({ text: (error as Error).message, bad: true });
    }
    await load();
  };
  const replay = (l: DeadLetter) => act(async () => {
    const r = await post<{ eventId: string; partition: number }>(`dead-letters/${seg(l.function)}/${seg(l.id)}/replay`);
    setReplays((list) => [{ fn: l.function, of: l.eventId, partition: r.partition, eventId: r.eventId, type: l.event?.type ?? null }, ...list].slice(0, 20));
    return `Replayed ${l.function} ${l.partition}/${l.eventId} as ${r.partition}/${r.eventId}.`;
  });
  const replayAll = () => act(async () => {
    const r = await post<{ replayed: number }>(`dead-letters/${seg(fn)}/replay-all`);
    return `Replayed ${r.replayed} dead letter(s) of ${fn}; see Live for the outcomes.`;
  });
  const purge = async (l: DeadLetter | null) => {
    const what = l ? `the dead letter ${l.id} of ${l.function}` : `every dead letter of ${fn}`;
    if (!(await ask({ title: 'Purge dead letters?', body: `This deletes ${what} for good; it cannot be replayed afterwards.`, confirm: 'Purge' }))) return;
    await act(async () => {
      const r = await post<{ purged: number }>(`dead-letters/${seg(l?.function ?? fn)}/purge`, l ? { id: l.id } : {});
      return `Purged ${r.purged} dead letter(s).`;
    });
  };
  const show = (l: DeadLetter) => get<DeadLetter>(`dead-letters/${seg(l.function)}/${seg(l.id)}`).then(setSelected, (e: Error) => setMessage({ text: e.message, bad: true }));
  const locked = canChange ? undefined : 'read-only: changes need the UI token';

  return (
    <section aria-labelledby="dlq-title">
      <h2 id="dlq-title" class="visually-hidden">Dead letters</h2>
      {confirmDialog}
      <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
        <FunctionSelect id="dlq-fn" value={fn} names={functionNames(live)} onChange={setFn} />
        <div class="toolbar-end">
          <button type="button" onClick={() => void load()}>Refresh</button>
          <button type="button" disabled={!canChange || fn === ''} title={locked ?? (fn === '' ? 'pick a function first' : undefined)} onClick={() => void replayAll()}>Replay all</button>
          <button type="button" class="danger" disabled={!canChange || fn === ''} title={locked ?? (fn === '' ? 'pick a function first' : undefined)} onClick={() => void purge(null)}>Purge all…</button>
        </div>
      </form>
      {message ? <p class={message.bad ? 'notice bad' : 'notice'} role={message.bad ? 'alert' : 'status'}>{message.text}</p> : null}
      <ReplayList replays={replays} records={live.records} />
      {letters === null ? <p class="empty">Loading…</p> : letters.length === 0 ? <p class="empty">No dead letters{fn ? ` for ${fn}` : ''}.</p> : (
        <table class="grid selectable">
          <thead><tr><th scope="col">Dead since</th><th scope="col">Function</th><th scope="col">Type</th><th scope="col">Key</th><th scope="col">Reason</th><th scope="col" class="num">Attempts</th><th scope="col">Error</th></tr></thead>
          <tbody>
            {letters.map((l) => (
              <tr key={`${l.function}/${l.id}`} class={selected?.id === l.id && selected.function === l.function ? 'selected' : ''}>
                <td class="mono"><button type="button" class="link" onClick={() => void show(l)} aria-label={`Show dead letter ${l.id} of ${l.function}`}>{dateTime(l.deadAt)}</button></td>
                <td>{l.function}</td>
                <td class="mono">{l.event?.type ?? '(malformed)'}</td>
                <td class="mono">{l.event?.key ?? '—'}</td>
                <td>{l.reason}</td>
                <td class="num mono">{l.attempts}</td>
                <td class="clip" title={l.error.message}>{l.error.name}: {l.error.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {selected ? (
        <article class="panel" aria-labelledby="dl-title">
          <header class="panel-head">
            <h3 id="dl-title">{selected.function} · <span class="mono">{selected.id}</span></h3>
            <div>
              <button type="button" class="primary" disabled={!canChange || selected.event === null} title={locked ?? (selected.event === null ? 'a malformed entry cannot be replayed' : undefined)} onClick={() => void replay(selected)}>Replay</button>
              <button type="button" class="danger" disabled={!canChange} title={locked} onClick={() => void purge(selected)}>Purge…</button>
            </div>
          </header>
          <p class="muted small">event {selected.partition}/{selected.eventId} · version {selected.version} · {selected.reason} after {selected.attempts} attempt(s) · first failure {dateTime(selected.firstFailureAt)} · last {dateTime(selected.lastFailureAt)}</p>
          <ErrorView error={selected.error} />
          <h4>Event</h4>
          {selected.event ? (
            <dl class="facts">
              <dt>Type</dt><dd class="mono">{selected.event.type}</dd>
              <dt>Key</dt><dd class="mono">{selected.event.key ?? '—'}</dd>
              <dt>Time</dt><dd>{selected.event.time === null ? '—' : dateTime(selected.event.time)}</dd>
              {selected.event.headers ? <><dt>Headers</dt><dd><pre>{pretty(selected.event.headers)}</pre></dd></> : null}
              <dt>Data</dt><dd><pre class="json">{pretty(selected.event.data)}</pre></dd>
            </dl>
          ) : <pre>{pretty(selected.rawFields ?? [])}</pre>}
        </article>
      ) : null}
    </section>
  );
}

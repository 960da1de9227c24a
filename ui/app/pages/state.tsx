/** State: one function's per-key state (`ctx.state`) for one event key; set and delete values. */
import { useState } from 'preact/hooks';
import { get, post, seg } from '../api.ts';
import { pretty } from '../format.ts';
import { functionNames, useLive } from '../live.ts';
import { useConfirm } from '../parts/confirm.tsx';
import { FunctionSelect } from '../parts/select.tsx';

interface StateReply { function: string; key: string; entries: Record<string, unknown> }

export function StatePage({ canChange }: { canChange: boolean }) {
  const live = useLive();
  const names = functionNames(live);
  const [fn, setFn] = useState('');
  const [key, setKey] = useState('');
  const [shown, setShown] = useState<StateReply | null>(null);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [message, setMessage] = useState<{ text: string; bad?: boolean } | null>(null);
  const [confirmDialog, ask] = useConfirm();
  const chosen = fn || names[0] || '';

  const run = async (work: () => Promise<StateReply>, done?: string) => {
    setMessage(null);
    try {
      setShown(await work());
      if (done) setMessage({ text: done });
    } catch (error) {
      setMessage({ text: (error as Error).message, bad: true });
    }
  };
  const load = () => run(() => get<StateReply>(`state/${seg(chosen)}?key=${seg(key)}`));
  const valueProblem = (() => { try { JSON.parse(value); return null; } catch (e) { return (e as Error).message; } })();
  const locked = canChange ? undefined : 'read-only: changes need the UI token';
  const target = shown ? { fn: shown.function, key: shown.key } : null;

  return (
    <section aria-labelledby="state-title">
      <h2 id="state-title" class="visually-hidden">Per-key state</h2>
      {confirmDialog}
      <form class="toolbar" onSubmit={(e) => { e.preventDefault(); if (key !== '' && chosen !== '') void load(); }}>
        <FunctionSelect id="state-fn" value={chosen} names={names} onChange={setFn} allLabel={null} />
        <label class="field" for="state-key"><span>Event key</span>
          <input id="state-key" value={key} required spellcheck={false} placeholder="thread-42" onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="primary" disabled={key === '' || chosen === ''}>Show state</button>
      </form>
      <p class="muted small">A handler reads and writes this as <code>ctx.state</code>, committed with each event it handles. Changes made here apply at once; an event of this key being handled right now still sees what it read.</p>
      {message ? <p class={message.bad ? 'notice bad' : 'notice'} role={message.bad ? 'alert' : 'status'}>{message.text}</p> : null}
      {shown && target ? (
        <article class="panel">
          <header class="panel-head">
            <h3>{shown.function} · key <span class="mono">{shown.key}</span></h3>
            <button type="button" class="danger" disabled={!canChange || Object.keys(shown.entries).length === 0} title={locked} onClick={async () => {
              if (await ask({ title: 'Delete this state?', body: `Deletes every state value of ${target.fn} for key ${target.key}.`, confirm: 'Delete all' })) {
                await run(() => post<StateReply>(`state/${seg(target.fn)}/delete`, { key: target.key }), 'Deleted.');
              }
            }}>Delete all…</button>
          </header>
          {Object.keys(shown.entries).length === 0 ? <p class="muted">No state for this key.</p> : (
            <table class="grid">
              <thead><tr><th scope="col">Name</th><th scope="col">Value</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
              <tbody>
                {Object.entries(shown.entries).map(([n, v]) => (
                  <tr key={n}>
                    <th scope="row" class="mono">{n}</th>
                    <td><pre class="json">{pretty(v)}</pre></td>
                    <td class="row-actions">
                      <button type="button" onClick={() => { setName(n); setValue(pretty(v)); }}>Edit</button>
                      <button type="button" class="danger" disabled={!canChange} title={locked} onClick={() => void run(() => post<StateReply>(`state/${seg(target.fn)}/delete`, { key: target.key, name: n }), `Deleted ${n}.`)}>Delete</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h4>Set a value</h4>
          <form class="inline-form" onSubmit={(e) => { e.preventDefault(); if (name !== '' && valueProblem === null) void run(() => post<StateReply>(`state/${seg(target.fn)}/set`, { key: target.key, name, value: JSON.parse(value) }), `Set ${name}.`); }}>
            <label class="field" for="state-name"><span>Name</span><input id="state-name" value={name} spellcheck={false} onInput={(e) => setName((e.target as HTMLInputElement).value)} /></label>
            <label class="field grow" for="state-value"><span>Value (JSON)</span>
              <textarea id="state-value" rows={3} spellcheck={false} value={value} aria-invalid={value !== '' && valueProblem !== null} onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)} />
            </label>
            <button type="submit" disabled={!canChange || name === '' || valueProblem !== null} title={locked ?? (valueProblem ? `Not JSON: ${valueProblem}` : undefined)}>Set value</button>
          </form>
        </article>
      ) : null}
    </section>
  );
}

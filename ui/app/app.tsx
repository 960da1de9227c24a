/** The shell: header, page tabs (keys 1–6), and the page the URL hash names. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { hasToken, MODE, NAMESPACE, setToken } from './api.ts';
import { connectLive, useLive } from './live.ts';
import { DeadLettersPage } from './pages/dead-letters.tsx';
import { FunctionsPage } from './pages/functions.tsx';
import { LivePage } from './pages/live.tsx';
import { PartitionsPage } from './pages/partitions.tsx';
import { SendPage } from './pages/send.tsx';
import { StatePage } from './pages/state.tsx';
import { UnlockButton } from './parts/unlock.tsx';

const PAGES = [
  { id: 'functions', label: 'Functions' },
  { id: 'live', label: 'Live' },
  { id: 'partitions', label: 'Partitions' },
  { id: 'dead-letters', label: 'Dead letters' },
  { id: 'send', label: 'Send event' },
  { id: 'state', label: 'State' },
] as const;
type PageId = (typeof PAGES)[number]['id'];

function route(): { page: PageId; query: URLSearchParams } {
  const [path = '', search = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const page = PAGES.find((p) => p.id === path)?.id ?? 'functions';
  return { page, query: new URLSearchParams(search) };
}

export function App() {
  const live = useLive();
  const [where, setWhere] = useState(route);
  const [, setUnlocked] = useState(hasToken());
  const main = useRef<HTMLElement>(null);

  useEffect(() => {
    connectLive();
    const onHash = () => setWhere(route());
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement;
      if (e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) || target.isContentEditable) return;
      const page = PAGES[Number(e.key) - 1];
      if (page) location.hash = `#/${page.id}`;
    };
    addEventListener('hashchange', onHash);
    addEventListener('keydown', onKey);
    return () => { removeEventListener('hashchange', onHash); removeEventListener('keydown', onKey); };
  }, []);
  useEffect(() => { document.title = `${PAGES.find((p) => p.id === where.page)!.label} · fnrun · ${NAMESPACE}`; }, [where.page]);

  const readOnly = live.hello?.readOnly ?? MODE === 'start';
  const canChange = !readOnly && hasToken();

  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); main.current?.focus(); }}>Skip to content</a>
      <header class="top">
        <div class="brand"><span class="logo" aria-hidden="true">λ</span> fnrun <span class="muted">· {NAMESPACE}</span></div>
        <div class="top-status">
          <span class={`badge ${MODE === 'dev' ? 'badge-info' : 'badge-neutral'}`}>{MODE}</span>
          {readOnly ? <span class="badge badge-neutral" title="start fnrun start with --ui-token (or FNRUN_UI_TOKEN) to allow changes">read-only</span>
            : MODE === 'start' && !hasToken() ? <UnlockButton onUnlock={() => setUnlocked(true)} />
            : MODE === 'start' ? <><span class="badge badge-ok">changes allowed</span><button type="button" class="small" onClick={() => { setToken(null); setUnlocked(false); }}>Lock</button></> : null}
          <span class={`conn ${live.connected ? 'on' : 'off'}`} role="status">{live.connected ? 'live' : 'reconnecting…'}</span>
        </div>
      </header>
      <nav class="tabs" aria-label="Pages">
        {PAGES.map((p, i) => (
          <a key={p.id} href={`#/${p.id}`} aria-current={where.page === p.id ? 'page' : undefined} title={`${p.label} (key ${i + 1})`}>
            {p.label}{p.id === 'dead-letters' ? <DeadLetterCount /> : null}
          </a>
        ))}
      </nav>
      <main id="main" ref={main} tabIndex={-1}>
        {where.page === 'functions' ? <FunctionsPage />
          : where.page === 'live' ? <LivePage />
          : where.page === 'partitions' ? <PartitionsPage />
          : where.page === 'dead-letters' ? <DeadLettersPage key={where.query.toString()} query={where.query} canChange={canChange} />
          : where.page === 'send' ? <SendPage canChange={canChange} />
          : <StatePage canChange={canChange} />}
      </main>
    </>
  );
}

function DeadLetterCount() {
  const live = useLive();
  const total = (live.status?.functions ?? []).reduce((sum, f) => sum + f.deadLetters, 0);
  return total > 0 ? <span class="count" aria-label={`${total} dead letters`}>{total}</span> : null;
}

/**
 * Runs one scenario in its own process, so its peak RSS is its own (not the leftovers of earlier
 * scenarios) and its CPU is not shared with the bench's publisher or bookkeeping.
 *
 *   parent → fork('bench/child.ts', [scenarioFile, argsJson])
 *   child  → { t: 'ready' } when the scenario asks the parent to act (the latency publisher), and
 *            waits for the parent's next message;
 *   child  → { t: 'result', value, rss } or { t: 'error', message }, then exits.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { peakRss, sampleRss } from './rss.ts';

/** What a scenario may ask of the parent process. */
export interface Parent {
  /** Tells the parent the scenario is ready; resolves with the parent's answer. */
  ready(): Promise<unknown>;
}

export type Measure<A, R> = (args: A, parent: Parent) => Promise<R>;

export interface ChildResult<R> {
  value: R;
  rss: { totalMb: number; parts: Record<string, number> };
}

const CHILD_TIMEOUT_MS = 180_000;

type Message = { t: 'ready' } | { t: 'result'; value: unknown; rss: ChildResult<unknown>['rss'] } | { t: 'error'; message: string };

/**
 * Runs `measure` exported by `bench/<file>` in a fresh process. `onReady` answers the scenario's
 * `parent.ready()`; `execArgv` are the scenario process's Node flags (none by default).
 */
export function inChild<A, R>(file: string, args: A, onReady?: () => Promise<unknown>, execArgv: string[] = []): Promise<ChildResult<R>> {
  // No inherited flags: a --cpu-prof given to the bench must not profile every scenario.
  const child = fork(fileURLToPath(import.meta.url), [file, JSON.stringify(args)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let settled = false;
    // A scenario waits for its last event; if fnrun lost one, say so instead of hanging.
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${file} did not finish within ${CHILD_TIMEOUT_MS / 1000} s`)); }, CHILD_TIMEOUT_MS);
    child.once('exit', () => clearTimeout(timer));
    child.on('message', (m: Message) => {
      if (m.t === 'ready') {
        void (onReady ?? (async () => null))().then((answer) => child.send({ answer }), (error: unknown) => { child.kill(); reject(error); });
      } else if (m.t === 'result') {
        settled = true;
        resolve({ value: m.value as R, rss: m.rss });
      } else {
        settled = true;
        reject(new Error(`${file}: ${m.message}`));
      }
    });
    child.once('exit', (code) => { if (!settled) reject(new Error(`${file} exited with code ${code} before reporting`)); });
  });
}

async function main(file: string, argsJson: string): Promise<void> {
  const send = (m: Message) => new Promise<void>((resolve) => process.send!(m, undefined, undefined, () => resolve()));
  const parent: Parent = {
    ready: () => new Promise((resolve) => {
      process.once('message', (m: { answer: unknown }) => resolve(m.answer));
      void send({ t: 'ready' });
    }),
  };
  const sampler = setInterval(sampleRss, 250);
  try {
    const mod = (await import(`./${file}`)) as { measure: Measure<unknown, unknown> };
    const value = await mod.measure(JSON.parse(argsJson), parent);
    await send({ t: 'result', value, rss: peakRss() });
  } catch (error) {
    await send({ t: 'error', message: error instanceof Error ? error.stack ?? error.message : String(error) });
  } finally {
    clearInterval(sampler);
  }
  // esbuild's service and ioredis sockets may linger; the result is out, nothing else matters.
  process.exit(0);
}

if (import.meta.main) await main(process.argv[2]!, process.argv[3]!);

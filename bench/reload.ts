/**
 * Scenario 6, dev reload: how long from saving a function to its new version being live (the
 * runtime swapped it in: the next batch runs it), against the floor of a cold esbuild build of the
 * same file, measured in the same run. The time includes the file watcher noticing the save and
 * the dev session's 20 ms settle delay.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { DevSession } from '../runtime/drivers/dev-session.ts';
import { createJsonLogger, Runtime } from '../runtime/index.ts';
import { sampleRss } from './rss.ts';
import { percentile } from './stats.ts';

const SAVES = 40;

const source = (n: number) => `import { helper } from './_helper.ts';
export const config = { events: ['bench.*'], retry: { attempts: 2 } };
export default async function handler(event: { data: unknown }, ctx: { log: { info(...a: unknown[]): void } }) {
  ctx.log.info(helper(${n}), event.data);
}
`;

export interface ReloadArgs {
  url: string;
  namespace: string;
}

export interface ReloadResult {
  saves: number;
  reloadP50: number;
  reloadP99: number;
  buildP50: number;
  buildP99: number;
}

/** Save → live, and a cold build of the same file, in ms; p99 of 40 is the slowest. */
export async function measure({ url, namespace }: ReloadArgs): Promise<ReloadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-bench-reload-'));
  const functions = join(dir, 'functions');
  mkdirSync(functions);
  writeFileSync(join(functions, '_helper.ts'), 'export const helper = (n: number) => `version ${n}`;\n');
  writeFileSync(join(functions, 'target.ts'), source(0));
  const runtime = await Runtime.create({ redis: url, namespace, logger: createJsonLogger('silent') });
  await runtime.start();
  // Settled by the dev session's callbacks (a throw there would be swallowed by its queue).
  let waiter: { resolve: () => void; reject: (error: Error) => void } | null = null;
  const session = new DevSession(runtime, functions, {
    loaded: () => waiter?.resolve(),
    failed: (name, _file, error) => waiter?.reject(new Error(`${name}: ${error.message}`)),
    removed: () => {},
  });
  await session.start();
  const reloads: number[] = [];
  const builds: number[] = [];
  try {
    for (let i = 1; i <= SAVES; i++) {
      const live = new Promise<void>((resolve, reject) => { waiter = { resolve, reject }; });
      const t0 = performance.now();
      writeFileSync(join(functions, 'target.ts'), source(i));
      await live;
      reloads.push(performance.now() - t0);
      const b0 = performance.now();
      await esbuild.build({ entryPoints: [join(functions, 'target.ts')], bundle: true, write: false, format: 'iife', platform: 'neutral', sourcemap: 'external', outdir: dir });
      builds.push(performance.now() - b0);
      // Saves come seconds apart when people edit; back-to-back saves are the dev session's
      // recheck path (tested in test/e2e), not what this measures.
      await new Promise((r) => setTimeout(r, 150));
    }
    sampleRss();
  } finally {
    await session.stop();
    await runtime.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    saves: reloads.length,
    reloadP50: percentile(reloads, 50), reloadP99: percentile(reloads, 99),
    buildP50: percentile(builds, 50), buildP99: percentile(builds, 99),
  };
}

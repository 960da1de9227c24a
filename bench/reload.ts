/**
 * Dev reload: how long from saving a function to its new version being live (the next batch runs
 * it), against the floor of a cold esbuild build of the same file, measured in the same run.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { DevSession } from '../runtime/dev-session.ts';
import { startEmbeddedRedis } from '../runtime/embedded-redis.ts';
import { silentLogger } from '../runtime/logger.ts';
import { Runtime } from '../runtime/runtime.ts';
import { percentile, type BenchResult } from './stats.ts';

const SAVES = 40;

const source = (n: number) => `import { helper } from './_helper.ts';
export const config = { events: ['bench.*'], retry: { attempts: 2 } };
export default async function handler(event: { data: unknown }, ctx: { log: { info(...a: unknown[]): void } }) {
  ctx.log.info(helper(${n}), event.data);
}
`;

export async function benchReload(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-bench-reload-'));
  const functions = join(dir, 'functions');
  mkdirSync(functions);
  writeFileSync(join(functions, '_helper.ts'), 'export const helper = (n: number) => `version ${n}`;\n');
  writeFileSync(join(functions, 'target.ts'), source(0));
  const redis = await startEmbeddedRedis(join(dir, 'redis'));
  const runtime = await Runtime.create({ redis: redis.url, namespace: 'bench-reload', logger: silentLogger });
  await runtime.start();
  let onLoaded: ((ms: number) => void) | null = null;
  const session = new DevSession(runtime, functions, {
    loaded: (_fn, info) => onLoaded?.(info.ms),
    failed: (name, _file, error) => { throw new Error(`${name}: ${error.message}`); },
    removed: () => {},
  });
  await session.start();
  const reloads: number[] = [];
  const builds: number[] = [];
  try {
    for (let i = 1; i <= SAVES; i++) {
      const live = new Promise<number>((resolve) => { onLoaded = resolve; });
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
  } finally {
    await session.stop();
    await runtime.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const build50 = percentile(builds, 50);
  return [
    { scenario: 'baseline: cold esbuild build of the function', p50Ms: build50, p99Ms: percentile(builds, 99), samples: builds.length },
    { scenario: 'dev reload: save → new version live', p50Ms: percentile(reloads, 50), p99Ms: percentile(reloads, 99), samples: reloads.length, ratio: `${(percentile(reloads, 50) / build50).toFixed(1)}× the cold build (p50)` },
  ];
}

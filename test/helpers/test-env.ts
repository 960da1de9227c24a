/**
 * Per test file: a private redis-server and a temp dir, created before the first test and removed
 * after the last. Read `env.redis` / `env.dir` inside tests (they exist once `before` ran).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startRedis, type TestRedis } from './redis-server.ts';

export interface TestEnv {
  readonly redis: TestRedis;
  readonly dir: string;
}

export function useTestEnv(prefix: string, opts: { appendonly?: boolean } = {}): TestEnv {
  let redis: TestRedis | null = null;
  let dir: string | null = null;
  before(async () => {
    redis = await startRedis(opts);
    dir = mkdtempSync(join(tmpdir(), `fnrun-${prefix}-`));
  });
  after(async () => {
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get redis() {
      if (!redis) throw new Error('useTestEnv: redis is not started yet (use it inside a test)');
      return redis;
    },
    get dir() {
      if (!dir) throw new Error('useTestEnv: dir is not created yet (use it inside a test)');
      return dir;
    },
  };
}

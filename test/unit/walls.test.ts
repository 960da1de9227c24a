import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkWalls } from '../../scripts/check-walls.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const broken = fileURLToPath(new URL('../fixtures/walls/broken', import.meta.url));

test('the repository keeps every wall', () => {
  assert.deepEqual(checkWalls(repo), []);
});

test('each wall broken once in a fixture tree is reported, with the file and the rule', () => {
  const found = checkWalls(broken).map((v) => `${v.file}: ${v.rule}`).sort();
  assert.deepEqual(found, [
    'cli/reaches-in.ts: cli/ imports runtime/ only through index.ts or internal.ts',
    'runtime/: no cycle between runtime folders',
    'runtime/events/a.ts: runtime never imports cli',
    'runtime/policy/impure.ts: policy/ imports only types.ts, errors.ts and policy/',
    'runtime/sandbox/child/inside.ts: nothing in sandbox/ imports redis/',
    'runtime/sandbox/host/peeks.ts: sandbox/host never imports sandbox/child or sandbox/isolate',
    'runtime/sandbox/isolate/shim.ts: sandbox/isolate imports only its own files',
    'runtime/worker/reads-redis.ts: only redis/ imports ioredis',
    'runtime/worker/reads-redis.ts: only redis/ spells keys (keys.ts)',
  ]);
});

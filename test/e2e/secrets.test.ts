/**
 * The operator decides which host variables functions read: `fnrun dev --env-file … --allow-env …`
 * with the real CLI (the same flags as `fnrun start`, from cli/env-options.ts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliProcess, runCli } from '../helpers/cli.ts';
import { useTestEnv } from '../helpers/test-env.ts';

const env = useTestEnv('secrets-e2e');

const reader = (names: string[]) => `export const config = { events: ['secret.read'], env: ${JSON.stringify(names)} };
export default async function handler(_event: unknown, ctx: { env: Record<string, string | undefined>; log: { info(m: string): void } }) {
  ctx.log.info('env ' + JSON.stringify(ctx.env));
}
`;

test('fnrun dev --env-file --allow-env: functions see the file\'s names and the allowed ones; others fail their load, naming the flag', async () => {
  const project = join(env.dir, 'project');
  const functions = join(project, 'functions');
  mkdirSync(functions, { recursive: true });
  writeFileSync(join(project, 'secrets.env'), 'FROM_FILE=from-the-file\nFNRUN_REDIS_URL=redis://never\n');
  writeFileSync(join(functions, 'reader.ts'), reader(['FROM_FILE', 'STRIPE_KEY']));
  writeFileSync(join(functions, 'greedy.ts'), reader(['DATABASE_PASSWORD']));
  writeFileSync(join(functions, 'sneaky.ts'), reader(['FNRUN_REDIS_URL']));
  const common = ['--redis', env.redis.url, '--namespace', 'secrets'];
  const dev = new CliProcess(['dev', '--env-file', 'secrets.env', '--allow-env', 'STRIPE_*', ...common], {
    cwd: project,
    env: { ...process.env, STRIPE_KEY: 'sk_live', DATABASE_PASSWORD: 'hunter2', FNRUN_REDIS_URL: env.redis.url },
  });
  try {
    const greedy = await dev.waitForLine((l) => l.includes('✖ greedy'), 'greedy refused');
    assert.match(greedy, /declares env DATABASE_PASSWORD, which the operator did not allow; start fnrun with --allow-env DATABASE_PASSWORD/);
    await dev.waitForLine((l) => l.includes('✖ sneaky') && l.includes("fnrun's own variables (FNRUN_*) are never visible"), 'sneaky refused');
    await dev.waitForLine((l) => l.includes('loaded reader'), 'reader loaded');
    const emitted = await runCli(['emit', 'secret.read', '--key', 'k', ...common]);
    assert.equal(emitted.code, 0, emitted.stderr);
    const line = await dev.waitForLine((l) => l.includes('env {'), 'reader logged its env');
    assert.ok(line.includes('env {"FROM_FILE":"from-the-file","STRIPE_KEY":"sk_live"}'), line);
  } finally {
    assert.equal(await dev.stop(), 0);
  }
});

test('fnrun start refuses an allow-list entry that matches no variable name, as one line', async () => {
  const result = await runCli(['start', '--allow-env', 'stripe_key', '--redis', env.redis.url]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^fnrun: --allow-env "stripe_key" is invalid: it contains "s"/);
});

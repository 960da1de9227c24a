import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Keys, Publisher } from '../../runtime/index.ts';
import type { FeedRecord } from '../../runtime/ops/feed/feed-record.ts';
import { launchBrowser, screenshot, type TestBrowser } from '../helpers/browser.ts';
import { CliProcess, runCli } from '../helpers/cli.ts';
import { rawRequest } from '../helpers/http-request.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const procs: CliProcess[] = [];
let browser: TestBrowser | null = null;
// Stopped while the Redis is still up (a runtime whose Redis is gone waits for it until forced out).
const env = useTestEnv('ui-start', {
  teardown: async () => {
    await browser?.close();
    await Promise.all(procs.map((p) => p.stop()));
  },
});
const NS = 'uistart';
const PARTITIONS = 8;
const TOKEN = 'a-long-operator-token-0123456789';
const JSON_BODY = { 'content-type': 'application/json' };

function spawn(args: string[], extraEnv: Record<string, string> = {}): CliProcess {
  const proc = new CliProcess([...args, '--redis', env.redis.url, '--namespace', NS], { env: { ...process.env, ...extraEnv } });
  procs.push(proc);
  return proc;
}

async function startProcess(extraEnv: Record<string, string> = {}): Promise<{ proc: CliProcess; ui: string; member: string }> {
  const proc = spawn(['start', '--http-port', '0', '--lease-ttl', '3000'], extraEnv);
  const ready = JSON.parse(await proc.waitForLine((l) => l.includes('fnrun start: ready'), 'start ready')) as { httpPort: number; member: string };
  return { proc, ui: `http://127.0.0.1:${ready.httpPort}/ui/`, member: ready.member };
}

test('fnrun start: the UI at /ui/ is read-only without a token and needs the token for changes; other origins are refused; fnrun tail follows two processes, filtered by function', async () => {
  const functions = join(env.dir, 'functions');
  cpSync(fileURLToPath(new URL('../fixtures/start', import.meta.url)), functions, { recursive: true });
  const deployed = await runCli(['deploy', '--dir', functions, '--redis', env.redis.url, '--namespace', NS, '--partitions', String(PARTITIONS)]);
  assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);

  const a = await startProcess();
  const b = await startProcess({ FNRUN_UI_TOKEN: TOKEN });
  const event = JSON.stringify({ type: 'flow.api', key: 'api-1', data: { seq: 0 } });

  // A: read-only.
  assert.equal((await rawRequest(a.ui.slice(0, -1))).status, 308, '/ui redirects to /ui/');
  const html = await rawRequest(a.ui);
  assert.equal(html.status, 200);
  assert.doesNotMatch(html.body, /fnrun-token/, 'start never puts a token in the page');
  const fns = JSON.parse((await rawRequest(`${a.ui}api/functions`)).body) as { name: string; version: string }[];
  assert.deepEqual(fns.map((f) => `${f.name}@${f.version}`), ['alpha@1', 'beta@1', 'gamma@1']);
  const readOnly = await rawRequest(`${a.ui}api/events`, { method: 'POST', headers: JSON_BODY, body: event });
  assert.equal(readOnly.status, 403);
  assert.match(readOnly.body, /read-only.*--ui-token/);
  assert.equal((await rawRequest(`${a.ui}api/dead-letters/alpha/replay-all`, { method: 'POST', headers: { ...JSON_BODY, 'x-fnrun-token': TOKEN }, body: '{}' })).status, 403, 'A has no token: even a right-looking one is refused');
  assert.equal((await rawRequest(`${a.ui}api/functions`, { headers: { origin: 'http://evil.example' } })).status, 403);
  assert.equal((await rawRequest(`${a.ui}api/live`, { headers: { 'sec-fetch-site': 'cross-site' } })).status, 403);

  // B: changes with the token only, and only from its own origin.
  assert.equal((await rawRequest(`${b.ui}api/events`, { method: 'POST', headers: JSON_BODY, body: event })).status, 403);
  assert.equal((await rawRequest(`${b.ui}api/events`, { method: 'POST', headers: { ...JSON_BODY, 'x-fnrun-token': 'not-the-token-at-all' }, body: event })).status, 403);
  assert.equal((await rawRequest(`${b.ui}api/events`, { method: 'POST', headers: { ...JSON_BODY, 'x-fnrun-token': TOKEN, origin: 'http://evil.example' }, body: event })).status, 403);
  assert.equal((await rawRequest(`${b.ui}api/events`, { method: 'POST', headers: { ...JSON_BODY, 'x-fnrun-token': TOKEN, 'sec-fetch-site': 'same-site' }, body: event })).status, 403);
  const sent = await rawRequest(`${b.ui}api/events`, { method: 'POST', headers: { ...JSON_BODY, 'x-fnrun-token': TOKEN }, body: event });
  assert.equal(sent.status, 200, sent.body);
  assert.match(sent.body, /"partition":\d+/);

  // fnrun tail alpha: invocations of both processes, of alpha only; a second tail filters by key.
  const redis = env.redis.client();
  const keys = new Keys(NS);
  await waitFor(async () => {
    const owners = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => redis.get(keys.partition(p).lease)));
    return owners.every((o) => o !== null) && new Set(owners.map((o) => o!.split('|')[0])).size === 2;
  }, { timeoutMs: 30_000, message: 'both processes own partitions' });
  const tail = spawn(['tail', 'alpha', '--json']);
  const byKey = spawn(['tail', '--key', 'key-3', '--status', 'ok', '--json']);
  for (const t of [tail, byKey]) await waitFor(() => t.stderr.includes('following invocations'), { timeoutMs: 30_000, message: 'tail subscribed' });
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: NS });
  const records = (t: CliProcess) => t.json<FeedRecord>();
  try {
    let seq = 0;
    await waitFor(async () => {
      await publisher.publishBatch(Array.from({ length: 16 }, (_, i) => ({ type: 'flow.item', key: `key-${i}`, data: { seq: seq++ } })));
      const sources = new Set(records(tail).map((r) => r.source));
      return sources.has(a.member) && sources.has(b.member) && records(byKey).length > 0;
    }, { timeoutMs: 60_000, intervalMs: 300, message: `tail shows invocations from both processes (${a.member}, ${b.member})` });
  } finally {
    await publisher.close();
  }
  assert.ok(records(tail).every((r) => r.function === 'alpha'), 'tail alpha shows alpha only');
  assert.ok(records(tail).every((r) => r.status === 'ok' && r.type === 'flow.item' && typeof r.durationMs === 'number' && r.logs?.[0]?.msg.startsWith('seen ')));
  assert.ok(records(byKey).every((r) => r.key === 'key-3' && r.status === 'ok'), 'tail --key --status filters');
  assert.deepEqual(new Set(records(byKey).map((r) => r.function)).size > 1, true, 'without FN every function shows');
  const text = spawn(['tail', 'beta']);
  await waitFor(() => text.stderr.includes('following invocations'), { timeoutMs: 30_000, message: 'text tail subscribed' });

  // The Live page in start mode follows every process too; A shows itself read-only.
  browser = await launchBrowser();
  const { page, problems } = await browser.page();
  const pub = await Publisher.connect({ redis: env.redis.url, namespace: NS });
  try {
    await page.goto(`${a.ui}#/live`);
    await page.locator('.badge', { hasText: 'read-only' }).waitFor({ timeout: 30_000 });
    await waitFor(async () => {
      await pub.publishBatch(Array.from({ length: 8 }, (_, i) => ({ type: 'flow.item', key: `page-${i}`, data: { seq: i } })));
      const shown = await page.locator('.feed-row', { hasText: 'gamma' }).count();
      return shown >= 8 && text.lines.some((l) => l.includes('beta') && l.includes('flow.item'));
    }, { timeoutMs: 60_000, intervalMs: 500, message: 'the Live page and a text tail show invocations' });
  } finally {
    await pub.close();
  }
  await screenshot(page, 'start-live-read-only');
  await page.goto(`${a.ui}#/send`);
  assert.equal(await page.getByRole('button', { name: 'Send', exact: true }).isDisabled(), true, 'read-only: Send is disabled');
  await page.goto(`${a.ui}#/partitions`);
  await waitFor(async () => Number(await page.locator('.chart').first().getAttribute('data-points')) >= 3, { timeoutMs: 30_000, message: 'chart samples' });
  await page.getByText(/processes/).waitFor({ timeout: 30_000 });
  await screenshot(page, 'start-partitions');

  // B: unlock with the token in the page, then send an event from the form.
  await page.goto(`${b.ui}#/send`);
  await page.getByRole('button', { name: 'Unlock changes' }).click();
  await page.getByLabel('UI token').fill(TOKEN);
  await page.getByRole('button', { name: 'Unlock', exact: true }).click();
  await page.getByLabel('Type').fill('flow.form');
  await page.getByLabel('Key').fill('form-1');
  await page.getByLabel('Data (JSON)').fill('{"seq": 1}');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.locator('.notice li', { hasText: 'alpha' }).filter({ hasText: 'ok' }).waitFor({ timeout: 30_000 });
  await screenshot(page, 'start-send-unlocked');
  assert.deepEqual(problems, []);
});

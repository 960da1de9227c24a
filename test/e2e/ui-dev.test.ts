import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { Keys } from '../../runtime/index.ts';
import { StateStore } from '../../runtime/state/state-store.ts';
import { launchBrowser, screenshot, type TestBrowser } from '../helpers/browser.ts';
import { CliProcess } from '../helpers/cli.ts';
import { rawRequest } from '../helpers/http-request.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const NS = 'ui';
const PARTITIONS = 4;
const WAIT = { timeout: 30_000 };
const PAGES = ['functions', 'live', 'partitions', 'dead-letters', 'send', 'state'] as const;

const GREET = `export const config = { events: ['greet.*'] };
export default async function handler(event: { data: { name: string } }, ctx: { log: { info(...a: unknown[]): void } }) {
  ctx.log.info('hello', event.data.name);
}
`;
const CHARGE = (fixed: boolean) => `export const config = { events: ['order.placed'], retry: { attempts: 2, initialDelayMs: 20, maxDelayMs: 20 } };
export default async function handler(event: { data: { amount: number } }) {
  if (${fixed ? 'false' : 'event.data.amount > 100'}) {
    throw new Error('card declined for ' + event.data.amount);
  }
}
`;

let browser: TestBrowser | null = null;
let dev: CliProcess | null = null;
// Stopped while the Redis is still up.
const env = useTestEnv('ui-dev', {
  topology: 'single',
  teardown: async () => {
    await browser?.close();
    await dev?.stop();
  },
});

interface Line { kind?: string; function?: string; reload?: boolean; uiUrl?: string; status?: string; key?: string | null; type?: string }

async function sendFromForm(page: Page, type: string, key: string, data: string): Promise<void> {
  await page.getByRole('link', { name: 'Send event' }).click();
  await page.getByLabel('Type').fill(type);
  await page.getByLabel('Key').fill(key);
  await page.getByLabel('Data (JSON)').fill(data);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.locator('.notice', { hasText: `Sent ${type}` }).waitFor(WAIT);
}

test('fnrun dev UI in Chromium: a sent event shows up live; a failure reaches Dead letters with its mapped stack; after a fix, replay succeeds; state; screenshots of every page', async () => {
  const project = join(env.dir, 'project');
  const functions = join(project, 'functions');
  mkdirSync(functions, { recursive: true });
  writeFileSync(join(functions, 'greet.ts'), GREET);
  writeFileSync(join(functions, 'charge.ts'), CHARGE(false));
  dev = new CliProcess(['dev', '--dir', functions, '--redis', env.redis.url, '--namespace', NS, '--partitions', String(PARTITIONS), '--log', 'json', '--ui-port', '0'], { cwd: project });
  const started = JSON.parse(await dev.waitForLine((l) => l.includes('"kind":"started"'), 'dev started')) as Line;
  const ui = started.uiUrl!;
  assert.match(ui, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  for (const fn of ['greet', 'charge']) await dev.waitForLine((l) => l.includes('"kind":"loaded"') && l.includes(`"function":"${fn}"`), `${fn} loaded`);

  browser = await launchBrowser();
  const { page, problems } = await browser.page();
  await page.goto(ui);
  await page.getByRole('button', { name: 'greet', exact: true }).waitFor(WAIT);
  await page.getByRole('button', { name: 'charge', exact: true }).waitFor(WAIT);

  // An event sent from the form shows up live, as an invocation with its log.
  await sendFromForm(page, 'greet.hello', 'user-1', '{"name":"Ada"}');
  await page.locator('.notice li', { hasText: 'greet' }).filter({ hasText: 'ok' }).waitFor(WAIT);
  await page.getByRole('link', { name: 'Live' }).click();
  const row = page.locator('.feed-row', { hasText: 'greet' }).filter({ hasText: 'user-1' }).first();
  await row.waitFor(WAIT);
  assert.match(await row.locator('summary').innerText(), /greet\.hello[\s\S]*user-1[\s\S]*ok/);
  await row.locator('summary').click();
  await row.locator('.logs', { hasText: 'hello Ada' }).waitFor(WAIT);
  assert.ok(dev.json<Line>().some((l) => l.kind === 'invocation' && l.function === 'greet' && l.key === 'user-1' && l.status === 'ok'), 'the runtime ran it');

  // Nothing from the data runs: hostile text is shown as text.
  await sendFromForm(page, 'greet.hello', '<img src=x onerror="window.__pwned=1">', '{"name":"<script>window.__pwned=2</script><img src=x onerror=window.__pwned=3>"}');
  await page.getByRole('link', { name: 'Live' }).click();
  const hostile = page.locator('.feed-row', { hasText: '<img src=x onerror="window.__pwned=1">' }).first();
  await hostile.waitFor(WAIT);
  await hostile.locator('summary').click();
  await hostile.locator('.logs', { hasText: '<script>window.__pwned=2</script>' }).waitFor(WAIT);
  assert.equal(await page.evaluate('window.__pwned'), undefined, 'no injected code ran');
  assert.equal(await page.locator('.feed img').count(), 0, 'no element was made from data');

  // A failing function's event reaches Dead letters, with the stack mapped to the TypeScript source.
  await sendFromForm(page, 'order.placed', 'cust-9', '{"amount":500}');
  await page.getByRole('link', { name: /^Dead letters/ }).click();
  const letter = page.locator('tr', { hasText: 'cust-9' });
  await letter.waitFor(WAIT);
  await letter.getByRole('button', { name: /Show dead letter/ }).click();
  const stack = page.locator('.panel .stack');
  await stack.waitFor(WAIT);
  assert.match(await stack.innerText(), /functions\/charge\.ts:4:\d+/, 'the stack names the TypeScript source line');
  assert.match(await page.locator('.panel .error-head').innerText(), /card declined for 500/);
  await screenshot(page, 'dev-dead-letters');

  // Fix the file; the dev loop reloads it; replay from the UI succeeds.
  writeFileSync(join(functions, 'charge.ts'), CHARGE(true));
  await dev.waitForLine((l) => l.includes('"kind":"loaded"') && l.includes('"function":"charge"') && l.includes('"reload":true'), 'fixed charge reloaded');
  await page.getByRole('button', { name: 'Replay', exact: true }).click();
  await page.locator('.replay', { hasText: 'replay succeeded' }).waitFor(WAIT);
  await page.locator('.empty', { hasText: 'No dead letters' }).waitFor(WAIT);
  assert.ok(dev.json<Line>().some((l) => l.kind === 'invocation' && l.function === 'charge' && l.key === 'cust-9' && l.status === 'ok'), 'the replay ran on the fixed version');
  await screenshot(page, 'dev-dead-letters-replayed');

  // State: set a value for a key from the page; the store has it.
  await page.getByRole('link', { name: 'State' }).click();
  await page.getByLabel('Function').selectOption('greet');
  await page.getByLabel('Event key').fill('user-1');
  await page.getByRole('button', { name: 'Show state' }).click();
  await page.getByText('No state for this key.').waitFor(WAIT);
  await page.getByLabel('Name').fill('visits');
  await page.getByLabel('Value (JSON)').fill('{"count": 3}');
  await page.getByRole('button', { name: 'Set value' }).click();
  await page.locator('table th', { hasText: 'visits' }).waitFor(WAIT);
  const redis = env.redis.client();
  assert.deepEqual(await new StateStore(redis, new Keys(NS), PARTITIONS).get('greet', 'user-1'), { visits: { count: 3 } });

  // Screenshots of every page, light and dark (look at them: test-artifacts/ui/).
  await page.getByRole('link', { name: 'Functions' }).click();
  await page.getByRole('button', { name: 'charge', exact: true }).click();
  await page.locator('tr.detail .stack').waitFor(WAIT);
  await screenshot(page, 'dev-functions-expanded');
  const dark = await browser.page({ colorScheme: 'dark' });
  for (const [p, scheme] of [[page, 'light'], [dark.page, 'dark']] as const) {
    for (const name of PAGES) {
      await p.goto(`${ui}#/${name}`);
      await p.locator('main').waitFor(WAIT);
      if (name === 'partitions') await waitFor(async () => Number(await p.locator('.chart').first().getAttribute('data-points')) >= 4, { timeoutMs: 30_000, message: 'chart samples' });
      if (name === 'send') await p.getByLabel('Type').fill('greet.hello');
      if (name === 'state') {
        await p.getByLabel('Function').selectOption('greet');
        await p.getByLabel('Event key').fill('user-1');
        await p.getByRole('button', { name: 'Show state' }).click();
        await p.locator('table th', { hasText: 'visits' }).waitFor(WAIT);
      }
      if (name === 'live') await p.locator('.feed-row').first().waitFor(WAIT);
      if (name === 'functions') await p.getByRole('button', { name: 'greet', exact: true }).waitFor(WAIT);
      await screenshot(p, `dev-${name}-${scheme}`);
    }
  }
  assert.deepEqual([...problems, ...dark.problems], [], 'no console errors, CSP violations or page errors');
});

test('fnrun dev UI refuses other origins, rebinding Host names and changes without the page token', async () => {
  assert.ok(dev, 'runs after the first test');
  const started = JSON.parse(dev.lines.find((l) => l.includes('"kind":"started"'))!) as Line;
  const ui = started.uiUrl!;
  const page = await rawRequest(ui);
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  const token = /name="fnrun-token" content="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(token, 'dev embeds a session token in the page');
  const event = JSON.stringify({ type: 'greet.api', key: 'k', data: { name: 'api' } });
  const json = { 'content-type': 'application/json' };

  assert.equal((await rawRequest(`${ui}api/functions`)).status, 200, 'reads need no token');
  assert.equal((await rawRequest(`${ui}api/functions`, { headers: { origin: 'http://evil.example' } })).status, 403);
  assert.equal((await rawRequest(`${ui}api/functions`, { headers: { 'sec-fetch-site': 'cross-site' } })).status, 403);
  assert.equal((await rawRequest(`${ui}api/functions`, { headers: { 'sec-fetch-site': 'same-site' } })).status, 403, 'another port of the same host is another origin');
  assert.equal((await rawRequest(ui, { headers: { host: `evil.example:${new URL(ui).port}` } })).status, 403, 'DNS rebinding');
  assert.equal((await rawRequest(`${ui}api/events`, { method: 'POST', headers: json, body: event })).status, 403, 'no token');
  assert.equal((await rawRequest(`${ui}api/events`, { method: 'POST', headers: { ...json, 'x-fnrun-token': 'wrong' }, body: event })).status, 403);
  assert.equal((await rawRequest(`${ui}api/events`, { method: 'POST', headers: { 'content-type': 'text/plain', 'x-fnrun-token': token }, body: event })).status, 403, 'not JSON');
  assert.equal((await rawRequest(`${ui}api/events`, { method: 'POST', headers: { ...json, 'x-fnrun-token': token, origin: 'http://evil.example' }, body: event })).status, 403, 'token, but from another origin');
  const ok = await rawRequest(`${ui}api/events`, { method: 'POST', headers: { ...json, 'x-fnrun-token': token, origin: new URL(ui).origin }, body: event });
  assert.equal(ok.status, 200, ok.body);

  // A real page on another origin (another port) tries a no-CORS POST and a read: both fail.
  const evil = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><title>evil</title><script>
      fetch(${JSON.stringify(`${ui}api/events`)}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(JSON.stringify({ type: 'evil.csrf', key: 'x', data: {} }))} })
        .finally(() => fetch(${JSON.stringify(`${ui}api/dead-letters`)}).then((r) => r.text()).then((t) => { document.title = 'read ' + t; }, () => { document.title = 'blocked'; }));
    </script>`);
  });
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
  try {
    const { page: evilPage } = await browser!.page();
    await evilPage.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
    await evilPage.waitForFunction("document.title !== 'evil'", null, WAIT);
    assert.equal(await evilPage.title(), 'blocked', 'another origin cannot read the API');
    await evilPage.close();
  } finally {
    evil.close();
  }
  const redis = env.redis.client();
  const keys = new Keys(NS);
  for (let p = 0; p < PARTITIONS; p++) {
    const entries = (await redis.xrange(keys.partition(p).events, '-', '+')) as [string, string[]][];
    assert.ok(!entries.some(([, fields]) => fields.includes('evil.csrf')), 'the cross-origin POST published nothing');
  }
});

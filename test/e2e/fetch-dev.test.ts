/**
 * Outbound fetches as an operator sees them: on `fnrun dev`'s invocation lines, and as metrics on
 * its /metrics endpoint — against a real HTTP server on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliProcess, runCli } from '../helpers/cli.ts';
import { startHttpServer } from '../helpers/http-test-server.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('fetch-dev');

const caller = (origin: string, allow: string) => `export const config = {
  events: ['call.*'],
  network: { allow: [${JSON.stringify(allow)}] },
  retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
};
export default async function handler(event: { type: string }) {
  await fetch('${origin}/echo');
  if (event.type === 'call.fail') throw new Error('fails after one fetch');
  await fetch('${origin}/redirect?to=' + encodeURIComponent('${origin}/echo'));
  await fetch('https://evil.example/').catch(() => 'refused, as expected');
  await fetch('${origin}/status/503');
}
`;

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('fnrun dev shows each invocation\'s fetches (host, status or failure, time, redirects) and counts them on /metrics by function, host and status', async () => {
  const server = await startHttpServer();
  const allow = `127.0.0.1:${server.port}`;
  const functions = join(env.dir, 'functions');
  mkdirSync(functions, { recursive: true });
  writeFileSync(join(functions, 'caller.ts'), caller(server.origin, allow));
  const common = ['--redis', env.redis.url, '--namespace', 'fetches'];
  const dev = new CliProcess(['dev', '--dir', functions, ...common, '--no-ui', '--no-color', '--http-port', '0']);
  try {
    const banner = await dev.waitForLine((l) => l.includes('/metrics'), 'dev started with metrics');
    const metricsUrl = /(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(banner)![1]!;
    await dev.waitForLine((l) => l.includes('loaded caller'), 'caller loaded');
    assert.equal((await runCli(['emit', 'call.ok', '--key', 'k', ...common])).code, 0);
    const ok = await dev.waitForLine((l) => /caller\s+call\.ok .* ok /.test(l), 'the ok invocation line');
    const host = `127\\.0\\.0\\.1:${server.port}`;
    assert.match(ok, new RegExp(`  ok  fetch ${host} 200 \\d+ms, ${host} 200 \\d+ms \\(1 redirect\\), evil\\.example refused \\d+ms \\+1 more$`));

    assert.equal((await runCli(['emit', 'call.fail', '--key', 'k', ...common])).code, 0);
    const retry = await dev.waitForLine((l) => /caller\s+call\.fail .* retry 1 in/.test(l), 'the retry line');
    assert.match(retry, new RegExp(`retry 1 in \\d+ms  fetch ${host} 200 \\d+ms  Error: fails after one fetch`));
    const dead = await dev.waitForLine((l) => /caller\s+call\.fail .* dead-lettered/.test(l), 'the dead-lettered line');
    assert.match(dead, new RegExp(`dead-lettered after 2 attempt\\(s\\)  fetch ${host} 200 \\d+ms  Error: fails after one fetch`));

    // Every attempt's fetches count, the last failed one's too; hosts are labelled by allow entry.
    const labels = (status: string, h = allow) => `{function="caller",host="${h}",status="${status}"}`;
    const expected: [string, number][] = [
      [`fnrun_fetch_requests_total${labels('200')}`, 4],
      [`fnrun_fetch_requests_total${labels('503')}`, 1],
      [`fnrun_fetch_requests_total${labels('refused', '(refused)')}`, 1],
      [`fnrun_fetch_duration_seconds_count{function="caller",host="${allow}"}`, 5],
      [`fnrun_fetch_duration_seconds_count{function="caller",host="(refused)"}`, 1],
    ];
    let text = '';
    await waitFor(async () => {
      text = await (await fetch(metricsUrl)).text();
      return expected.every(([series, n]) => sample(text, series) === n);
    }, { message: 'fetch metrics counted' }).catch((error: Error) => {
      throw new Error(`${error.message}\n${text.split('\n').filter((l) => l.startsWith('fnrun_fetch')).join('\n')}`);
    });
    assert.match(text, new RegExp(`^fnrun_fetch_duration_seconds_bucket\\{le="300",function="caller",host="${allow.replaceAll('.', '\\.')}"\\} 5$`, 'm'));
    assert.equal(sample(text, 'fnrun_dead_letters_total{function="caller",reason="failed"}'), 1);
    assert.equal(server.requests.filter((r) => r.url === '/echo').length, 4, 'the server saw each fetch that was allowed');
  } finally {
    assert.equal(await dev.stop(), 0);
    await server.close();
  }
});

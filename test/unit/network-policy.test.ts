import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addressRefusal,
  compileNetworkPolicy,
  matchTarget,
  parseAllowEntry,
  refusalReason,
  targetLabel,
  targetOf,
  type FetchTarget,
  type NetworkPolicy,
} from '../../runtime/policy/network-policy.ts';
import { MANIFEST_DEFAULTS } from '../../runtime/loading/manifest.ts';

function policy(...allow: string[]): NetworkPolicy {
  return compileNetworkPolicy({ ...MANIFEST_DEFAULTS.network, allow });
}

function target(url: string): FetchTarget {
  const t = targetOf(new URL(url));
  assert.ok(typeof t !== 'string', `${url}: ${String(t)}`);
  return t;
}

/** The entry that allows `url` under `allow`, or null. */
function allowedBy(allow: string[], url: string): string | null {
  return matchTarget(policy(...allow), target(url))?.entry ?? null;
}

test('entries parse into rules, lowercased, with IPs in comparable form', () => {
  assert.deepEqual(parseAllowEntry('API.Example.com'), { kind: 'name', entry: 'API.Example.com', host: 'api.example.com', port: null });
  assert.deepEqual(parseAllowEntry('example.com.:8080'), { kind: 'name', entry: 'example.com.:8080', host: 'example.com', port: 8080 });
  assert.deepEqual(parseAllowEntry('*.example.org'), { kind: 'wildcard', entry: '*.example.org', host: 'example.org', port: null });
  assert.deepEqual(parseAllowEntry('127.0.0.1:9000'), { kind: 'ip', entry: '127.0.0.1:9000', host: '127.0.0.1', port: 9000 });
  assert.deepEqual(parseAllowEntry('[::1]:3000'), { kind: 'ip', entry: '[::1]:3000', host: '::1', port: 3000 });
  assert.deepEqual(parseAllowEntry('[0:0::1]'), { kind: 'ip', entry: '[0:0::1]', host: '::1', port: null });
  assert.deepEqual(parseAllowEntry('2001:DB8::1'), { kind: 'ip', entry: '2001:DB8::1', host: '2001:db8::1', port: null });
  assert.deepEqual(parseAllowEntry('[::ffff:127.0.0.1]'), { kind: 'ip', entry: '[::ffff:127.0.0.1]', host: '127.0.0.1', port: null });
  assert.deepEqual(parseAllowEntry('localhost:8080'), { kind: 'localhost', entry: 'localhost:8080', host: 'localhost', port: 8080 });
  assert.deepEqual(parseAllowEntry('my_host-1.internal'), { kind: 'name', entry: 'my_host-1.internal', host: 'my_host-1.internal', port: null });
});

test('bad entries say what is wrong', () => {
  const problems: [string, RegExp][] = [
    ['', /empty/],
    ['http://x.com', /without a scheme, e\.g\. "x\.com"/],
    ['x.com/path', /no path/],
    ['user@x.com', /no path, query or user/],
    ['*', /lone "\*"/],
    ['*.com', /top-level domain/],
    ['a*.x.com', /whole first label/],
    ['*.*.x.com', /whole first label/],
    ['x.com:65536', /port must be a number from 1 to 65535/],
    ['x.com:', /port must be/],
    ['[::1]x', /in brackets/],
    ['[fe80::1%eth0]', /not an IPv6 address/],
    ['[x.com]', /not an IPv6 address/],
    ['1:2', /neither a host name nor an IPv4/],
    ['0x7f.0.0.1', /dotted decimal/],
    ['010.0.0.1', /dotted decimal/],
    ['1.2.3.256', /dotted decimal/],
    ['-x.com', /not a valid host name/],
    ['x..com', /not a valid host name/],
    [`${'a'.repeat(64)}.com`, /not a valid host name/],
    ['ex ample.com', /whitespace/],
    ['bücher.de', /punycode/],
  ];
  for (const [entry, re] of problems) {
    const r = parseAllowEntry(entry);
    assert.equal(typeof r, 'string', `${entry} should be refused`);
    assert.match(r as string, re, entry);
  }
  assert.throws(() => policy('*'), /network\.allow entry "\*": a lone/);
});

test('a name matches itself on the default port of each scheme; a port entry only that port', () => {
  assert.equal(allowedBy(['api.example.com'], 'https://api.example.com/v1?q=1'), 'api.example.com');
  assert.equal(allowedBy(['api.example.com'], 'http://API.EXAMPLE.COM/'), 'api.example.com');
  assert.equal(allowedBy(['api.example.com'], 'https://api.example.com:443/'), 'api.example.com');
  assert.equal(allowedBy(['api.example.com'], 'https://api.example.com./'), 'api.example.com');
  assert.equal(allowedBy(['api.example.com'], 'https://api.example.com:8443/'), null);
  assert.equal(allowedBy(['api.example.com'], 'http://api.example.com:443/'), null);
  assert.equal(allowedBy(['api.example.com'], 'https://x.api.example.com/'), null);
  assert.equal(allowedBy(['api.example.com'], 'https://example.com/'), null);
  assert.equal(allowedBy(['api.example.com'], 'https://api.example.com.evil.net/'), null);
  assert.equal(allowedBy(['api.example.com:8443'], 'https://api.example.com:8443/'), 'api.example.com:8443');
  assert.equal(allowedBy(['api.example.com:8443'], 'http://api.example.com:8443/'), 'api.example.com:8443');
  assert.equal(allowedBy(['api.example.com:8443'], 'https://api.example.com/'), null);
  assert.equal(allowedBy(['api.example.com:443'], 'https://api.example.com/'), 'api.example.com:443');
});

test('*.domain matches subdomains at any depth, not the apex nor look-alikes', () => {
  const allow = ['*.example.org'];
  assert.equal(allowedBy(allow, 'https://a.example.org/'), '*.example.org');
  assert.equal(allowedBy(allow, 'https://a.b.example.org/'), '*.example.org');
  assert.equal(allowedBy(allow, 'https://example.org/'), null);
  assert.equal(allowedBy(allow, 'https://badexample.org/'), null);
  assert.equal(allowedBy(allow, 'https://example.org.evil.net/'), null);
  assert.equal(allowedBy(allow, 'https://a.example.org:8443/'), null);
  assert.equal(allowedBy(['*.example.org', 'example.org'], 'https://example.org/'), 'example.org');
});

test('IP entries match the literal address only (any spelling), localhost matches only localhost', () => {
  assert.equal(allowedBy(['127.0.0.1:9000'], 'http://127.0.0.1:9000/'), '127.0.0.1:9000');
  assert.equal(allowedBy(['127.0.0.1:9000'], 'http://127.1:9000/'), '127.0.0.1:9000'); // the URL parser canonicalises
  assert.equal(allowedBy(['127.0.0.1:9000'], 'http://0x7f.0.0.1:9000/'), '127.0.0.1:9000');
  assert.equal(allowedBy(['127.0.0.1:9000'], 'http://[::ffff:127.0.0.1]:9000/'), '127.0.0.1:9000');
  assert.equal(allowedBy(['127.0.0.1:9000'], 'http://127.0.0.1:9001/'), null);
  assert.equal(allowedBy(['127.0.0.1:9000'], 'http://localhost:9000/'), null);
  assert.equal(allowedBy(['[::1]:3000'], 'http://[0:0:0:0:0:0:0:1]:3000/'), '[::1]:3000');
  assert.equal(allowedBy(['::1'], 'http://[::1]/'), '::1');
  assert.equal(allowedBy(['localhost:8080'], 'http://localhost:8080/'), 'localhost:8080');
  assert.equal(allowedBy(['localhost:8080'], 'http://LOCALHOST:8080/'), 'localhost:8080');
  assert.equal(allowedBy(['localhost:8080'], 'http://127.0.0.1:8080/'), null);
  assert.equal(allowedBy(['localhost:8080'], 'http://a.localhost:8080/'), null);
  assert.equal(allowedBy([], 'https://api.example.com/'), null);
});

test('targetOf refuses schemes other than http and https', () => {
  for (const url of ['ftp://x.com/', 'file:///etc/passwd', 'data:text/plain,hi', 'ws://x.com/', 'javascript:alert(1)']) {
    assert.match(targetOf(new URL(url)) as string, /only http: and https: URLs/, url);
  }
  assert.deepEqual(targetOf(new URL('http://[::ffff:7f00:1]:81/')), { protocol: 'http:', host: '127.0.0.1', ip: true, port: 81 });
});

test('refusals name the host, the manifest field and the entry to add', () => {
  assert.equal(
    refusalReason(policy(), target('https://api.example.com/x')),
    'fetch to "api.example.com" refused: this function has no network access (network.allow is empty); add "api.example.com" to network.allow in its config',
  );
  assert.equal(
    refusalReason(policy('other.com'), target('http://evil.com:8080/')),
    `fetch to "evil.com" (port 8080) refused: not in this function's network.allow; add "evil.com:8080" to network.allow in its config`,
  );
  assert.match(refusalReason(policy('api.example.com'), target('https://api.example.com:8443/')), /it lists "api\.example\.com", which allows other ports: an entry without a port allows 80 for http and 443 for https\); add "api\.example\.com:8443"/);
  assert.match(refusalReason(policy('x.com'), target('http://[::1]:3000/')), /add "\[::1\]:3000" to network\.allow/);
});

test('a listed name may resolve only to public addresses, unless the IP itself is listed (with the port)', () => {
  const p = policy('api.example.com', '*.corp.example', '10.0.0.5', '127.0.0.1:8080');
  const t = target('https://api.example.com/');
  const rule = matchTarget(p, t)!;
  assert.equal(addressRefusal(p, t, rule, '93.184.216.34'), null);
  assert.equal(addressRefusal(p, t, rule, '2606:2800:220:1:248:1893:25c8:1946'), null);
  for (const [address, kind] of [
    ['127.0.0.1', 'loopback'], ['169.254.169.254', 'link-local'], ['::ffff:169.254.169.254', 'link-local'], ['192.168.1.1', 'private'],
    ['0.0.0.0', 'unspecified'], ['::1', 'loopback'], ['fd00::1', 'private'], ['fe80::1', 'link-local'], ['100.64.0.1', 'shared'], ['224.0.0.1', 'multicast'],
  ]) {
    const why = addressRefusal(p, t, rule, address!);
    assert.ok(why !== null, `${address} should be refused`);
    assert.match(why, new RegExp(`resolves to .*, an? ${kind} address`), address);
    assert.match(why, /SSRF and DNS-rebinding protection/);
  }
  assert.match(addressRefusal(p, t, rule, '169.254.169.254')!, /add "169\.254\.169\.254" to network\.allow$/);
  assert.match(addressRefusal(p, t, rule, 'fe80::1')!, /add "\[fe80::1\]" to network\.allow$/);
  // The IP is listed (on the default port): a listed name may resolve to it.
  assert.equal(addressRefusal(p, t, rule, '10.0.0.5'), null);
  assert.equal(addressRefusal(p, t, rule, '::ffff:10.0.0.5'), null);
  // 127.0.0.1 is listed on 8080 only.
  assert.notEqual(addressRefusal(p, t, rule, '127.0.0.1'), null);
  const t8080 = target('http://app.corp.example:8080/');
  assert.equal(matchTarget(p, t8080), null); // the wildcard has no port: 8080 is not allowed for names
  const p2 = policy('app.corp.example:8080', '127.0.0.1:8080');
  assert.equal(addressRefusal(p2, t8080, matchTarget(p2, t8080)!, '127.0.0.1'), null);
  assert.match(addressRefusal(p2, t8080, matchTarget(p2, t8080)!, '127.0.0.2')!, /add "127\.0\.0\.2:8080"/);
  assert.match(addressRefusal(p, t, rule, 'not-an-ip')!, /not an IP address/);
});

test('an IP entry allows exactly its address; localhost allows loopback addresses only', () => {
  const p = policy('169.254.169.254', 'localhost:8080');
  const meta = target('http://169.254.169.254/');
  assert.equal(addressRefusal(p, meta, matchTarget(p, meta)!, '169.254.169.254'), null);
  const local = target('http://localhost:8080/');
  const rule = matchTarget(p, local)!;
  assert.equal(addressRefusal(p, local, rule, '127.0.0.1'), null);
  assert.equal(addressRefusal(p, local, rule, '::1'), null);
  assert.match(addressRefusal(p, local, rule, '10.0.0.1')!, /not a loopback address/);
});

test('a target is shown with its port unless it is the scheme\'s default, and an IPv6 address in brackets', () => {
  const label = (url: string) => targetLabel(targetOf(new URL(url)) as FetchTarget);
  assert.equal(label('https://api.example.com/x'), 'api.example.com');
  assert.equal(label('http://api.example.com:80/'), 'api.example.com');
  assert.equal(label('https://api.example.com:80/'), 'api.example.com:80');
  assert.equal(label('http://127.0.0.1:9000/'), '127.0.0.1:9000');
  assert.equal(label('http://[::1]:3000/'), '[::1]:3000');
  assert.equal(label('https://[::1]/'), '[::1]');
});

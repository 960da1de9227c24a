/**
 * A function's network allow-list (`network.allow` in its manifest) and the decisions made with
 * it before each connection: may this URL be fetched, and may this resolved address be reached.
 *
 * Entry syntax (a host and an optional `:port`, nothing else):
 *
 * | entry | allows |
 * |---|---|
 * | `api.example.com` | that host only, on the scheme's default port (80 for http, 443 for https) |
 * | `api.example.com:8443` | that host on port 8443 only (http or https) |
 * | `*.example.org` | any subdomain at any depth (`a.example.org`, `a.b.example.org`), NOT the apex `example.org`: list it too if needed |
 * | `203.0.113.7`, `[2001:db8::1]:3000`, `::1` | that IP address literally (with an IPv6 port, brackets are required) |
 * | `localhost`, `localhost:8080` | `localhost`, which resolves to the loopback addresses without DNS |
 *
 * Addresses: a name's resolved addresses must all be public ({@link classifyIp}); a private,
 * loopback, link-local (169.254.169.254 included) or otherwise special address is refused even
 * for a listed name (SSRF, DNS rebinding) unless the list also names that IP literally (with the
 * port used). A URL naming an IP or `localhost` needs that entry itself.
 */
import type { NetworkConfig } from '../types.ts';
import { classifyIp, comparableIp, parseIp, parseIpv4, type AddressKind } from './ip-address.ts';

/** One parsed `network.allow` entry; `port` null means the scheme's default port. */
export type AllowRule =
  | { kind: 'name'; entry: string; host: string; port: number | null }
  /** `host` is the suffix after `*.`: a match must end in `.${host}`. */
  | { kind: 'wildcard'; entry: string; host: string; port: number | null }
  /** `host` is the comparable address ({@link comparableIp}). */
  | { kind: 'ip'; entry: string; host: string; port: number | null }
  | { kind: 'localhost'; entry: string; host: 'localhost'; port: number | null };

/** The allow-list parsed, with the limits; built once per function version. */
export interface NetworkPolicy {
  rules: readonly AllowRule[];
  maxResponseBytes: number;
  maxRequestBytes: number;
  maxRedirects: number;
  maxConcurrent: number;
}

/** Where a request goes: scheme, lowercase host (an IP in comparable form, no brackets), port. */
export interface FetchTarget {
  protocol: 'http:' | 'https:';
  host: string;
  /** True when `host` is an IP address. */
  ip: boolean;
  port: number;
}

/** The allowed schemes and their default ports. */
export const DEFAULT_PORTS: Readonly<Record<FetchTarget['protocol'], number>> = Object.freeze({ 'http:': 80, 'https:': 443 });

const LABEL_RE = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;
const EXAMPLE = 'such as "api.example.com", "*.example.org", "127.0.0.1:9000" or "[::1]:3000"';

/**
 * Parses one `network.allow` entry.
 *
 * @returns the rule, or a string saying what is wrong with the entry and how to write it
 */
export function parseAllowEntry(entry: string): AllowRule | string {
  if (entry.length === 0) return `the entry is empty; write a host ${EXAMPLE}`;
  if (entry.length > 300) return 'the entry is longer than 300 characters';
  if (/\s/.test(entry)) return 'the entry contains whitespace';
  if (entry.includes('://')) return `write the host without a scheme, e.g. "${entry.slice(entry.indexOf('://') + 3).split(/[/?#]/)[0]}" (http and https are both allowed)`;
  if (/[/?#@]/.test(entry)) return `write only a host and an optional port (no path, query or user), ${EXAMPLE}`;
  let hostPart = entry.toLowerCase();
  let port: number | null = null;
  if (hostPart.startsWith('[')) {
    const close = hostPart.indexOf(']');
    const rest = close < 0 ? '' : hostPart.slice(close + 1);
    if (close < 0 || (rest !== '' && !rest.startsWith(':'))) return 'an IPv6 address in brackets must look like "[::1]" or "[::1]:3000"';
    if (rest !== '') {
      const p = parsePort(rest.slice(1));
      if (typeof p === 'string') return p;
      port = p;
    }
    const ip = parseIp(hostPart.slice(1, close));
    if (ip === null || hostPart.includes('%')) return `"${hostPart.slice(1, close)}" is not an IPv6 address`;
    return { kind: 'ip', entry, host: comparableIp(ip), port };
  }
  const colons = hostPart.split(':').length - 1;
  if (colons > 1) {
    const ip = parseIp(hostPart);
    if (ip === null || hostPart.includes('%')) return `"${entry}" is not an IPv6 address; with a port, write it in brackets: "[::1]:3000"`;
    return { kind: 'ip', entry, host: comparableIp(ip), port: null };
  }
  if (colons === 1) {
    const at = hostPart.indexOf(':');
    const p = parsePort(hostPart.slice(at + 1));
    if (typeof p === 'string') return p;
    port = p;
    hostPart = hostPart.slice(0, at);
  }
  if (hostPart.endsWith('.')) hostPart = hostPart.slice(0, -1); // the same name, fully qualified
  if (hostPart === '*') return 'a lone "*" would allow every host; list the hosts, or a domain as "*.example.org"';
  const wildcard = hostPart.startsWith('*.');
  const name = wildcard ? hostPart.slice(2) : hostPart;
  if (name.includes('*')) return '"*" may only be the whole first label, as in "*.example.org"';
  if (/[^\x21-\x7e]/.test(name)) return 'write an internationalised name in its punycode form ("xn--…")';
  const labels = name.split('.');
  const last = labels[labels.length - 1]!;
  // The URL standard reads a host whose last label is numeric as an IPv4 address ("127.1" is
  // 127.0.0.1), so such an entry would never match as a name.
  if (/^(?:0x[0-9a-f]*|[0-9]+)$/.test(last)) {
    const ip = wildcard ? null : parseIpv4(name);
    if (ip === null) return `"${name}" is neither a host name nor an IPv4 address in dotted decimal (such as 127.0.0.1)`;
    return { kind: 'ip', entry, host: ip.text, port };
  }
  if (name.length > 253 || !labels.every((l) => LABEL_RE.test(l))) {
    return `"${name}" is not a valid host name (dot-separated labels of letters, digits, "-" and "_", each at most 63 characters)`;
  }
  if (wildcard) {
    if (labels.length < 2) return `"*.${name}" would cover a whole top-level domain; use a domain such as "*.example.org"`;
    return { kind: 'wildcard', entry, host: name, port };
  }
  if (name === 'localhost') return { kind: 'localhost', entry, host: 'localhost', port };
  return { kind: 'name', entry, host: name, port };
}

function parsePort(text: string): number | string {
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) return `the port must be a number from 1 to 65535, got "${text}"`;
  return n;
}

/**
 * The policy of a validated `network` manifest field.
 *
 * @throws TypeError when an entry is invalid (the manifest validation reports those first)
 */
export function compileNetworkPolicy(config: NetworkConfig): NetworkPolicy {
  const rules = config.allow.map((entry) => {
    const rule = parseAllowEntry(entry);
    if (typeof rule === 'string') throw new TypeError(`network.allow entry "${entry}": ${rule}`);
    return rule;
  });
  const { maxResponseBytes, maxRequestBytes, maxRedirects, maxConcurrent } = config;
  return { rules, maxResponseBytes, maxRequestBytes, maxRedirects, maxConcurrent };
}

/** The target of a parsed WHATWG URL, or why it can never be fetched. */
export function targetOf(url: { protocol: string; hostname: string; port: string }): FetchTarget | string {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `only http: and https: URLs can be fetched, got "${url.protocol}"`;
  let host = url.hostname.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '') return 'the URL has no host';
  const ip = parseIp(host);
  const port = url.port === '' ? DEFAULT_PORTS[url.protocol] : Number(url.port);
  return { protocol: url.protocol, host: ip === null ? host : comparableIp(ip), ip: ip !== null, port };
}

/** How a target is shown (dev lines, metrics, errors): `host`, `host:port` off the scheme's default port, `[v6]:port`. */
export function targetLabel(target: FetchTarget): string {
  const host = target.ip && target.host.includes(':') ? `[${target.host}]` : target.host;
  return target.port === DEFAULT_PORTS[target.protocol] ? host : `${host}:${target.port}`;
}

function portMatches(rule: AllowRule, target: FetchTarget): boolean {
  return rule.port === null ? target.port === DEFAULT_PORTS[target.protocol] : target.port === rule.port;
}

function hostMatches(rule: AllowRule, target: FetchTarget): boolean {
  if (rule.kind === 'ip') return target.ip && target.host === rule.host;
  if (target.ip) return false;
  if (rule.kind === 'wildcard') return target.host.endsWith(`.${rule.host}`);
  return target.host === rule.host;
}

/** The first rule allowing `target`, or null. */
export function matchTarget(policy: NetworkPolicy, target: FetchTarget): AllowRule | null {
  for (const rule of policy.rules) if (hostMatches(rule, target) && portMatches(rule, target)) return rule;
  return null;
}

/** How to write `target` as an allow-list entry. */
export function entryFor(target: FetchTarget): string {
  const host = target.ip && target.host.includes(':') ? `[${target.host}]` : target.host;
  return target.port === DEFAULT_PORTS[target.protocol] ? host : `${host}:${target.port}`;
}

/** Why `target` is not allowed, naming the manifest field and the fix (for a refused URL). */
export function refusalReason(policy: NetworkPolicy, target: FetchTarget): string {
  const entry = entryFor(target);
  const shown = `"${target.host}"${target.port === DEFAULT_PORTS[target.protocol] ? '' : ` (port ${target.port})`}`;
  if (policy.rules.length === 0) {
    return `fetch to ${shown} refused: this function has no network access (network.allow is empty); add "${entry}" to network.allow in its config`;
  }
  const samePort = policy.rules.filter((r) => hostMatches(r, target)).map((r) => `"${r.entry}"`);
  const portNote = samePort.length > 0 ? ` (it lists ${samePort.join(', ')}, which allow${samePort.length === 1 ? 's' : ''} other ports: an entry without a port allows 80 for http and 443 for https)` : '';
  return `fetch to ${shown} refused: not in this function's network.allow${portNote}; add "${entry}" to network.allow in its config`;
}

/**
 * Whether `address`, resolved for `target` (allowed by `rule`), may be connected to.
 *
 * @returns null when it may, otherwise why not (naming the address, its kind and the fix)
 */
export function addressRefusal(policy: NetworkPolicy, target: FetchTarget, rule: AllowRule, address: string): string | null {
  const ip = parseIp(address);
  if (ip === null) return `"${target.host}" resolved to "${address}", which is not an IP address`;
  const kind = classifyIp(ip);
  const comparable = comparableIp(ip);
  if (rule.kind === 'ip') return comparable === rule.host ? null : `"${address}" is not the listed address ${rule.host}`;
  if (rule.kind === 'localhost') return kind === 'loopback' ? null : `"localhost" resolved to ${address}, which is not a loopback address`;
  if (kind === 'public') return null;
  const listed = policy.rules.some((r) => r.kind === 'ip' && r.host === comparable && portMatches(r, target));
  if (listed) return null;
  const shown = ip.version === 6 ? `[${comparable}]` : comparable;
  const asEntry = target.port === DEFAULT_PORTS[target.protocol] ? shown : `${shown}:${target.port}`;
  return (
    `fetch to "${target.host}" refused: it resolves to ${comparable}, ${article(kind)} ${kind} address, which functions may not reach ` +
    `through a name (SSRF and DNS-rebinding protection); if this function may reach it, add "${asEntry}" to network.allow`
  );
}

function article(kind: AddressKind): string {
  return /^[aeiou]/.test(kind) ? 'an' : 'a';
}

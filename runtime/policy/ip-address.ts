/**
 * IP address parsing and classification for the fetch policy: which addresses are on the public
 * internet and which reach the host's own machine, its network or its cloud metadata service.
 *
 * Ranges follow the IANA special-purpose registries (IPv4: RFC 6890 and successors; IPv6: the
 * same registry) and are deliberately broad: an address that is not clearly global unicast is not
 * `public`. IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64
 * `64:ff9b::/96`, 6to4 `2002::/16`) are classified by that IPv4 address, so `::ffff:127.0.0.1`
 * is loopback and `::ffff:169.254.169.254` is link-local.
 */

/** What an address reaches. Everything but `public` is refused unless listed literally. */
export type AddressKind =
  | 'public'
  /** `0.0.0.0/8`, `::` (Linux connects `0.0.0.0` to the local host) */
  | 'unspecified'
  /** `127.0.0.0/8`, `::1` */
  | 'loopback'
  /** `10/8`, `172.16/12`, `192.168/16`, `fc00::/7` (unique local), `fec0::/10` (old site-local) */
  | 'private'
  /** `100.64.0.0/10`, carrier-grade NAT */
  | 'shared'
  /** `169.254.0.0/16` (cloud metadata at 169.254.169.254), `fe80::/10` */
  | 'link-local'
  /** `224.0.0.0/4`, `ff00::/8` */
  | 'multicast'
  /** `255.255.255.255` */
  | 'broadcast'
  /** documentation, benchmarking, protocol assignments, `240/4`, IPv6 outside `2000::/3`, … */
  | 'reserved';

/** A parsed address: `bytes` has 4 entries for IPv4 and 16 for IPv6; `text` is canonical. */
export interface IpAddress {
  version: 4 | 6;
  bytes: readonly number[];
  /** Dotted decimal, or RFC 5952 (lowercase, longest zero run as `::`); IPv4-mapped IPv6 stays IPv6. */
  text: string;
}

const V4_PART = /^(?:0|[1-9][0-9]{0,2})$/;

/** Strict dotted decimal (four parts, no leading zeros, each 0–255); null otherwise. */
export function parseIpv4(text: string): IpAddress | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes: number[] = [];
  for (const p of parts) {
    if (!V4_PART.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    bytes.push(n);
  }
  return { version: 4, bytes, text: bytes.join('.') };
}

/**
 * An IPv6 address without brackets; a trailing zone (`fe80::1%eth0`, as resolvers return for
 * link-local addresses) is ignored. Null when `text` is not one.
 */
export function parseIpv6(text: string): IpAddress | null {
  const zone = text.indexOf('%');
  const s = zone >= 0 ? text.slice(0, zone) : text;
  if (s.length === 0 || s.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(s)) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (half: string, last: boolean): number[] | null => {
    if (half === '') return [];
    const out: number[] = [];
    const pieces = half.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (last && i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === null) return null;
        const [a, b, c, d] = v4.bytes as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(piece)) out.push(parseInt(piece, 16));
      else return null;
    }
    return out;
  };
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >> 8, g & 0xff);
  return { version: 6, bytes, text: formatIpv6(groups) };
}

/** Either family; `[::1]` with brackets too. Null when `text` is not an IP address. */
export function parseIp(text: string): IpAddress | null {
  if (text.startsWith('[') && text.endsWith(']')) return parseIpv6(text.slice(1, -1));
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

function formatIpv6(groups: readonly number[]): string {
  // RFC 5952: the longest run of two or more zero groups (the first one on a tie) becomes "::".
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLength, 8)}`;
}

/** [first bytes, prefix length in bits, kind]: checked in order, the first match wins. */
type Range = readonly [readonly number[], number, AddressKind];

const V4_RANGES: readonly Range[] = [
  [[255, 255, 255, 255], 32, 'broadcast'],
  [[0], 8, 'unspecified'],
  [[10], 8, 'private'],
  [[100, 64], 10, 'shared'],
  [[127], 8, 'loopback'],
  [[169, 254], 16, 'link-local'],
  [[172, 16], 12, 'private'],
  [[192, 0, 0], 24, 'reserved'], // IETF protocol assignments (192.0.0.170/171: NAT64 discovery)
  [[192, 0, 2], 24, 'reserved'], // TEST-NET-1
  [[192, 31, 196], 24, 'reserved'], // AS112
  [[192, 52, 193], 24, 'reserved'], // AMT
  [[192, 88, 99], 24, 'reserved'], // 6to4 relay anycast (deprecated)
  [[192, 168], 16, 'private'],
  [[192, 175, 48], 24, 'reserved'], // AS112 direct delegation
  [[198, 18], 15, 'reserved'], // benchmarking
  [[198, 51, 100], 24, 'reserved'], // TEST-NET-2
  [[203, 0, 113], 24, 'reserved'], // TEST-NET-3
  [[224], 4, 'multicast'],
  [[240], 4, 'reserved'],
];

const V6_RANGES: readonly Range[] = [
  [[0xff], 8, 'multicast'],
  [[0xfe, 0x80], 10, 'link-local'],
  [[0xfe, 0xc0], 10, 'private'], // deprecated site-local
  [[0xfc], 7, 'private'], // unique local
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64, 'reserved'], // discard-only
  [[0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48, 'reserved'], // local-use NAT64
  [[0x20, 0x01, 0x0d, 0xb8], 32, 'reserved'], // documentation
  [[0x20, 0x01, 0x00], 23, 'reserved'], // IETF protocol assignments, Teredo (2001::/32) among them
  [[0x3f, 0xff, 0x00], 20, 'reserved'], // documentation (RFC 9637)
];

function inRange(bytes: readonly number[], [prefix, bits]: Range): boolean {
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

function classifyV4(bytes: readonly number[]): AddressKind {
  for (const range of V4_RANGES) if (inRange(bytes, range)) return range[2];
  return 'public';
}

/** The IPv4 address embedded in an IPv6 one (mapped, NAT64 well-known prefix, 6to4), if any. */
function embeddedV4(b: readonly number[]): number[] | null {
  const zeros = (from: number, to: number): boolean => b.slice(from, to).every((x) => x === 0);
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return b.slice(12, 16);
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return b.slice(12, 16);
  if (b[0] === 0x20 && b[1] === 0x02) return b.slice(2, 6);
  return null;
}

/** What an address reaches (see {@link AddressKind}). */
export function classifyIp(ip: IpAddress): AddressKind {
  const b = ip.bytes;
  if (ip.version === 4) return classifyV4(b);
  const v4 = embeddedV4(b);
  if (v4 !== null) return classifyV4(v4);
  if (b.every((x) => x === 0)) return 'unspecified';
  if (b.slice(0, 15).every((x) => x === 0) && b[15] === 1) return 'loopback';
  if (b.slice(0, 12).every((x) => x === 0)) return 'reserved'; // IPv4-compatible (deprecated)
  for (const range of V6_RANGES) if (inRange(b, range)) return range[2];
  // Only 2000::/3 is allocated for global unicast.
  return (b[0]! & 0xe0) === 0x20 ? 'public' : 'reserved';
}

/** {@link classifyIp} of a textual address; null when `text` is not one. */
export function addressKind(text: string): AddressKind | null {
  const ip = parseIp(text);
  return ip === null ? null : classifyIp(ip);
}

/**
 * The address to compare with the allow-list: an IPv4-mapped IPv6 address is the IPv4 address it
 * maps, so a `127.0.0.1` entry also allows `::ffff:127.0.0.1`.
 */
export function comparableIp(ip: IpAddress): string {
  const b = ip.bytes;
  if (ip.version === 6 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return b.slice(12).join('.');
  return ip.text;
}

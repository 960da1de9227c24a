/**
 * A tiny authoritative DNS server over UDP on 127.0.0.1 (node:dgram), answering A and AAAA queries
 * from a table the test controls, so that fetch's own resolution (and DNS-rebinding defences) run
 * against a real resolver exchange. Unknown names get NXDOMAIN; a known name without records of
 * the asked type gets an empty NOERROR answer. Every query is counted.
 */
import { createSocket } from 'node:dgram';
import { parseIpv4, parseIpv6 } from '../../runtime/policy/ip-address.ts';

export interface DnsServer {
  /** `127.0.0.1:PORT`, for `resolver: { servers: [address] }`. */
  address: string;
  /** name (lowercase, no trailing dot) → its records; change it at will. */
  records: Map<string, { A?: string[]; AAAA?: string[] }>;
  /** `${name} ${type}` of every query received, in order. */
  queries: string[];
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;

export async function startDnsServer(records: Record<string, { A?: string[]; AAAA?: string[] }> = {}): Promise<DnsServer> {
  const socket = createSocket('udp4');
  const table = new Map(Object.entries(records));
  const queries: string[] = [];
  socket.on('message', (msg, peer) => {
    const question = parseQuestion(msg);
    if (question === null) return;
    const { name, type, end } = question;
    queries.push(`${name} ${type === TYPE_A ? 'A' : type === TYPE_AAAA ? 'AAAA' : type}`);
    const entry = table.get(name);
    const list = entry === undefined ? [] : type === TYPE_A ? (entry.A ?? []) : type === TYPE_AAAA ? (entry.AAAA ?? []) : [];
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | (entry === undefined ? 3 : 0), 2); // QR, AA, RD copied, rcode
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(list.length, 6);
    const answers = list.map((address) => {
      const bytes = (type === TYPE_A ? parseIpv4(address) : parseIpv6(address))?.bytes;
      if (bytes === undefined) throw new Error(`dns-server: "${address}" is not an IPv${type === TYPE_A ? 4 : 6} address`);
      const rr = Buffer.alloc(12 + bytes.length);
      rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      rr.writeUInt16BE(type, 2);
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(0, 6); // TTL 0: never cached
      rr.writeUInt16BE(bytes.length, 10);
      Buffer.from(bytes).copy(rr, 12);
      return rr;
    });
    socket.send(Buffer.concat([header, msg.subarray(12, end), ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  return {
    address: `127.0.0.1:${socket.address().port}`,
    records: table,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function parseQuestion(msg: Buffer): { name: string; type: number; end: number } | null {
  if (msg.length < 17 || msg.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let at = 12;
  while (at < msg.length) {
    const len = msg[at]!;
    if (len === 0) break;
    if (len > 63) return null;
    labels.push(msg.toString('latin1', at + 1, at + 1 + len));
    at += 1 + len;
  }
  if (at + 5 > msg.length) return null;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(at + 1), end: at + 5 };
}

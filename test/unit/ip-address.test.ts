import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { test } from 'node:test';
import { addressKind, comparableIp, parseIp, parseIpv4, parseIpv6, type AddressKind } from '../../runtime/policy/ip-address.ts';

test('IPv4: strict dotted decimal only', () => {
  assert.deepEqual(parseIpv4('192.168.0.1'), { version: 4, bytes: [192, 168, 0, 1], text: '192.168.0.1' });
  assert.deepEqual(parseIpv4('0.0.0.0')?.bytes, [0, 0, 0, 0]);
  for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-4', '0x7f.0.0.1', '1..2.3', '', '1.2.3.4 ', '١.٢.٣.٤']) {
    assert.equal(parseIpv4(bad), null, bad);
  }
});

test('IPv6: forms parse to canonical RFC 5952 text, agreeing with node:net on validity', () => {
  const canonical: [string, string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of two equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['::ffff:127.0.0.1', '::ffff:7f00:1'],
    ['::ffff:7f00:1', '::ffff:7f00:1'],
    ['64:ff9b::10.0.0.1', '64:ff9b::a00:1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['1::', '1::'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ];
  for (const [input, text] of canonical) {
    assert.equal(parseIpv6(input)?.text, text, input);
    assert.equal(isIP(input.replace(/%.*/, '')), 6, input);
  }
  const bad = ['', ':', ':::', '1:::2', '1::2::3', ':1', '1:', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '::1:2:3:4:5:6:7:8', '12345::', 'g::', '::1.2.3', '::256.0.0.1', '1.2.3.4::', '::ffff:1.2.3.4:5'];
  for (const input of bad) {
    assert.equal(parseIpv6(input), null, input);
    assert.equal(isIP(input), 0, `node agrees that ${input} is invalid`);
  }
});

test('parseIp takes either family, with IPv6 brackets', () => {
  assert.equal(parseIp('[::1]')?.text, '::1');
  assert.equal(parseIp('10.0.0.1')?.version, 4);
  assert.equal(parseIp('example.com'), null);
  assert.equal(parseIp('[10.0.0.1]'), null);
});

test('classification vectors (IANA special-purpose ranges, embedded IPv4 by its own range)', () => {
  const vectors: [string, AddressKind][] = [
    // public
    ['8.8.8.8', 'public'], ['1.1.1.1', 'public'], ['93.184.216.34', 'public'], ['9.255.255.255', 'public'], ['11.0.0.0', 'public'],
    ['100.63.255.255', 'public'], ['100.128.0.0', 'public'], ['126.255.255.255', 'public'], ['128.0.0.0', 'public'],
    ['169.253.255.255', 'public'], ['169.255.0.0', 'public'], ['172.15.255.255', 'public'], ['172.32.0.0', 'public'],
    ['192.167.255.255', 'public'], ['192.169.0.0', 'public'], ['198.17.255.255', 'public'], ['198.20.0.0', 'public'], ['223.255.255.255', 'public'],
    ['2606:4700:4700::1111', 'public'], ['2001:4860:4860::8888', 'public'], ['2a00:1450:4001::1', 'public'], ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::808:808', 'public'], ['2002:808:808::1', 'public'],
    // unspecified / this network
    ['0.0.0.0', 'unspecified'], ['0.1.2.3', 'unspecified'], ['0.255.255.255', 'unspecified'], ['::', 'unspecified'], ['::ffff:0.0.0.0', 'unspecified'],
    // loopback
    ['127.0.0.1', 'loopback'], ['127.1.2.3', 'loopback'], ['127.255.255.255', 'loopback'], ['::1', 'loopback'], ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'], ['64:ff9b::127.0.0.1', 'loopback'], ['2002:7f00:1::', 'loopback'],
    // private
    ['10.0.0.0', 'private'], ['10.255.255.255', 'private'], ['172.16.0.0', 'private'], ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'], ['192.168.255.255', 'private'], ['::ffff:10.1.2.3', 'private'], ['::ffff:192.168.1.1', 'private'],
    ['fc00::1', 'private'], ['fd12:3456:789a::1', 'private'], ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'private'], ['fec0::1', 'private'],
    ['2002:c0a8:101::1', 'private'],
    // shared (CGNAT)
    ['100.64.0.0', 'shared'], ['100.127.255.255', 'shared'],
    // link-local, cloud metadata
    ['169.254.0.0', 'link-local'], ['169.254.169.254', 'link-local'], ['169.254.255.255', 'link-local'], ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'], ['64:ff9b::a9fe:a9fe', 'link-local'], ['fe80::1', 'link-local'], ['febf:ffff::1', 'link-local'], ['fe80::1%lo', 'link-local'],
    // multicast, broadcast
    ['224.0.0.1', 'multicast'], ['239.255.255.255', 'multicast'], ['ff02::1', 'multicast'], ['ff05::2', 'multicast'], ['::ffff:224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'], ['::ffff:255.255.255.255', 'broadcast'],
    // reserved: documentation, benchmarking, protocol assignments, future use, old or odd IPv6 forms
    ['192.0.0.170', 'reserved'], ['192.0.2.1', 'reserved'], ['198.18.0.1', 'reserved'], ['198.19.255.255', 'reserved'], ['198.51.100.7', 'reserved'],
    ['203.0.113.7', 'reserved'], ['192.88.99.1', 'reserved'], ['240.0.0.1', 'reserved'], ['255.255.255.254', 'reserved'],
    ['2001:db8::1', 'reserved'], ['2001::1', 'reserved'], ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'], ['100::1', 'reserved'],
    ['64:ff9b:1::1', 'reserved'], ['::127.0.0.1', 'reserved'], ['::a00:1', 'reserved'], ['3fff::1', 'reserved'],
    ['4000::1', 'reserved'], ['1::1', 'reserved'], ['e000::1', 'reserved'],
  ];
  for (const [address, kind] of vectors) assert.equal(addressKind(address), kind, address);
  assert.equal(addressKind('localhost'), null);
});

test('comparableIp turns IPv4-mapped IPv6 into the IPv4 address, and keeps others canonical', () => {
  assert.equal(comparableIp(parseIp('::ffff:127.0.0.1')!), '127.0.0.1');
  assert.equal(comparableIp(parseIp('::FFFF:a9fe:a9fe')!), '169.254.169.254');
  assert.equal(comparableIp(parseIp('0:0::1')!), '::1');
  assert.equal(comparableIp(parseIp('10.0.0.1')!), '10.0.0.1');
  assert.equal(comparableIp(parseIp('64:ff9b::a00:1')!), '64:ff9b::a00:1');
});

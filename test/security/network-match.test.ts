// The consent page's phishing warning (RFC 10027 §6) compares the device's network with the
// person's: IPv4 /24, IPv6 /48, loopback its own network; unknown never counts as "the same".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limitKeyOfAddress, networkOf, sameNetwork } from '../../server/src/services/network-match.ts';
import { createRateLimits } from '../../server/src/services/rate-limits.ts';

test('IPv4 addresses in one /24 are the same network, across /24s they are not', () => {
  assert.equal(sameNetwork('203.0.113.7', '203.0.113.250'), true);
  assert.equal(sameNetwork('203.0.113.7', '203.0.114.7'), false);
  assert.equal(sameNetwork('192.168.1.20', '10.0.0.5'), false);
});

test('IPv6 addresses in one /48 are the same network (a site with several /64s), across /48s they are not', () => {
  assert.equal(sameNetwork('2001:db8:1:10::5', '2001:db8:1:ffff:1234::9'), true);
  assert.equal(sameNetwork('2001:db8:1::1', '2001:db8:2::1'), false);
  assert.equal(sameNetwork('2001:DB8:1::1', '2001:db8:0001:0000::2'), true, 'case and zero-compression do not matter');
});

test('IPv4-mapped IPv6 counts as the IPv4 address it carries', () => {
  assert.equal(sameNetwork('::ffff:203.0.113.7', '203.0.113.99'), true);
  assert.equal(networkOf('::ffff:198.51.100.4'), '198.51.100.0/24');
});

test('loopback is one network, whether IPv4 or IPv6', () => {
  assert.equal(sameNetwork('127.0.0.1', '::1'), true);
  assert.equal(sameNetwork('127.0.0.1', '127.8.9.10'), true);
  assert.equal(sameNetwork('127.0.0.1', '192.0.2.1'), false);
  assert.equal(networkOf('::1'), 'loopback');
});

test('IPv4 and IPv6 are never the same network', () => {
  assert.equal(sameNetwork('192.0.2.1', '2001:db8::1'), false);
});

test('missing, malformed or exotic forms are never the same network (the warning shows)', () => {
  for (const [a, b] of [
    [null, '192.0.2.1'],
    [undefined, undefined],
    ['', ''],
    ['not an address', 'not an address'],
    ['1', '1'],
    ['0x7f.1', '0x7f.1'],
    ['192.0.2.1.5', '192.0.2.1.5'],
    ['x'.repeat(100), 'x'.repeat(100)],
  ] as const) {
    assert.equal(sameNetwork(a, b), false, `${a} vs ${b}`);
  }
  assert.equal(networkOf('unknown'), null);
});

test('a zone index says which interface, not which network', () => {
  assert.equal(sameNetwork('fe80::1%eth0', 'fe80::2%wlan0'), true);
});

test('networkOf names the network for display', () => {
  assert.equal(networkOf('203.0.113.77'), '203.0.113.0/24');
  assert.equal(networkOf('2001:db8:abcd:12::1'), '2001:db8:abcd::/48');
});

test('limits count an IPv6 address by its /64 and an IPv4 address by itself (LIMIT-BY-NETWORK)', () => {
  assert.equal(limitKeyOfAddress('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(limitKeyOfAddress('2001:db8:1:2::1'), limitKeyOfAddress('2001:db8:1:2:ffff::9'));
  assert.notEqual(limitKeyOfAddress('2001:db8:1:2::1'), limitKeyOfAddress('2001:db8:1:3::1'));
  assert.equal(limitKeyOfAddress('192.0.2.7'), '192.0.2.7');
  assert.notEqual(limitKeyOfAddress('192.0.2.7'), limitKeyOfAddress('192.0.2.8'));
  assert.equal(limitKeyOfAddress('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(limitKeyOfAddress('not an address'), 'not an address');
});

test('the endpoint limits key on the /64: device authorization from one /64 shares one budget', async () => {
  const limits = createRateLimits({ rules: { deviceAuthorizationPerClientAndAddress: { points: 2, duration: 60 }, tokenPerAddress: { points: 2, duration: 60 } } });
  const key = (address: string) => `demo-tv ${address}`;
  assert.equal((await limits.consume('deviceAuthorizationPerClientAndAddress', key('2001:db8::1'))).allowed, true);
  assert.equal((await limits.consume('deviceAuthorizationPerClientAndAddress', key('2001:db8::2'))).allowed, true);
  assert.equal((await limits.consume('deviceAuthorizationPerClientAndAddress', key('2001:db8::3'))).allowed, false);
  assert.equal((await limits.consume('deviceAuthorizationPerClientAndAddress', key('2001:db8:0:1::3'))).allowed, true);
  assert.equal((await limits.consume('tokenPerAddress', '2001:db8::a')).allowed, true);
  assert.equal((await limits.consume('tokenPerAddress', '2001:db8::b')).allowed, true);
  assert.equal((await limits.consume('tokenPerAddress', '2001:db8::c')).allowed, false);
});

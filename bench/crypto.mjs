// JWT signing and verification with keys imported once: jose (WebCrypto) against node:crypto
// with cached KeyObjects, per algorithm the key store supports. Prints CPU µs per operation
// (user + system of this process; steadier than wall time on a shared machine) and the ratio.
// Why it matters: docs/performance.md#keys-prepared-once.
//
//   node bench/crypto.mjs [--iterations N] [--rounds R]
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT } from 'jose';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '3' } } });
const iterations = Number(values.iterations);
const rounds = Number(values.rounds);

const ISSUER = 'https://devicegate.example';
const payload = { iss: ISSUER, sub: 'u_1', aud: ISSUER, client_id: 'tv', scope: 'openid offline_access', jti: 'j_1' };
/** node:crypto's digest and signature options for each JOSE algorithm (RFC 7518 §3, RFC 8037 §3.1). */
const NODE = {
  ES256: { digest: 'sha256', options: { dsaEncoding: 'ieee-p1363' } },
  RS256: { digest: 'sha256', options: {} },
  EdDSA: { digest: null, options: {} },
};

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function cpuPerOp(fn) {
  for (let i = 0; i < Math.min(200, iterations); i++) await fn(); // warm-up
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) await fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / iterations;
}

async function measure(alg) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const kid = 'k1';
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };
  const jwks = { keys: [publicJwk] };
  const josePrivate = await importJWK(privateJwk, alg);
  const josePublic = await importJWK(publicJwk, alg);
  const nodePrivate = createPrivateKey({ key: privateJwk, format: 'jwk' });
  const nodePublic = createPublicKey({ key: publicJwk, format: 'jwk' });
  const { digest, options } = NODE[alg];

  const now = Math.floor(Date.now() / 1000);
  const header = { alg, kid, typ: 'at+jwt' };
  const joseSign = () => new SignJWT(payload).setProtectedHeader(header).setIssuedAt(now).setExpirationTime(now + 600).sign(josePrivate);
  const nodeSignJwt = () => {
    const input = `${b64(header)}.${b64({ ...payload, iat: now, exp: now + 600 })}`;
    return `${input}.${nodeSign(digest, Buffer.from(input), { key: nodePrivate, ...options }).toString('base64url')}`;
  };
  const token = await joseSign();
  const options_ = { issuer: ISSUER, typ: 'at+jwt', algorithms: [alg] };
  const joseVerifyPerCallSet = () => jwtVerify(token, createLocalJWKSet(jwks), options_);
  const joseVerifyCached = () => jwtVerify(token, josePublic, options_);
  const nodeVerifyJwt = () => {
    // The same work as the appliance's verifier: split, header checks, signature, claims.
    const [h, p, s] = token.split('.');
    const parsed = JSON.parse(Buffer.from(h, 'base64url').toString());
    if (parsed.alg !== alg || parsed.typ !== 'at+jwt' || parsed.kid !== kid) throw new Error('header');
    if (!nodeVerify(digest, Buffer.from(`${h}.${p}`), { key: nodePublic, ...options }, Buffer.from(s, 'base64url'))) throw new Error('signature');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    if (claims.iss !== ISSUER || !(claims.exp > Math.floor(Date.now() / 1000))) throw new Error('claims');
    return claims;
  };
  // Each path must accept the other's output, or the comparison is of different work.
  await jwtVerify(nodeSignJwt(), josePublic, options_);
  nodeVerifyJwt();

  const rows = [];
  for (let round = 0; round < rounds; round++) {
    rows.push({
      joseSign: await cpuPerOp(joseSign),
      nodeSign: await cpuPerOp(nodeSignJwt),
      josePerCallSet: await cpuPerOp(joseVerifyPerCallSet),
      joseCached: await cpuPerOp(joseVerifyCached),
      nodeVerify: await cpuPerOp(nodeVerifyJwt),
    });
  }
  const median = (key) => rows.map((row) => row[key]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
  return Object.fromEntries(Object.keys(rows[0]).map((key) => [key, median(key)]));
}

const f = (value) => `${value.toFixed(0)} µs`;
console.log(`# JWT sign and verify, CPU µs per operation (median of ${rounds} rounds of ${iterations}), Node ${process.version}\n`);
console.log('| alg | sign: jose, cached key | sign: node:crypto KeyObject | jose ÷ node | verify: jose, createLocalJWKSet per call | verify: jose, cached key | verify: node:crypto KeyObject + claim checks | jose cached ÷ node |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const alg of ['ES256', 'RS256', 'EdDSA']) {
  const m = await measure(alg);
  console.log(`| ${alg} | ${f(m.joseSign)} | ${f(m.nodeSign)} | ${(m.joseSign / m.nodeSign).toFixed(2)} | ${f(m.josePerCallSet)} | ${f(m.joseCached)} | ${f(m.nodeVerify)} | ${(m.joseCached / m.nodeVerify).toFixed(2)} |`);
}

// One base for the errors devicegate throws on purpose (server/src/errors.ts): each has a stable
// code and keeps its own name and message; an internal detail reaches the operator's debug log,
// never the response.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { CliError } from '../../server/src/cli/output.ts';
import { ConfigError } from '../../server/src/config.ts';
import { DpopProofError } from '../../server/src/dpop/proof.ts';
import { ReplayCacheFullError } from '../../server/src/dpop/replay-cache.ts';
import { DevicegateError, invalidGrant, OAuthError } from '../../server/src/errors.ts';
import { ClientAssertionError } from '../../server/src/http/client-assertion.ts';
import { KeyError } from '../../server/src/keys/sealing.ts';
import { TokenVerificationError } from '../../server/src/resource-server/index.ts';
import { UserCodeTakenError, UsernameTakenError } from '../../server/src/store/types.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { logLines } from '../support/log-lines.ts';
import { basicAuthorization, postForm } from './http.ts';

describe('every error of the server shares one base', () => {
  const cases: Array<[DevicegateError, string, string, string]> = [
    [invalidGrant('the device code is invalid'), 'OAuthError', 'invalid_grant', 'the device code is invalid'],
    [new ConfigError('invalid configuration: port: too big'), 'ConfigError', 'invalid_configuration', 'invalid configuration: port: too big'],
    [new CliError('no user "x"'), 'CliError', 'failed', 'no user "x"'],
    [new CliError('bad flag', 2), 'CliError', 'usage', 'bad flag'],
    [new UserCodeTakenError(), 'UserCodeTakenError', 'user_code_taken', 'user code already in use'],
    [new UsernameTakenError('ada'), 'UsernameTakenError', 'username_taken', 'username "ada" is already taken'],
    [new DpopProofError('use_dpop_nonce', 'a nonce is required'), 'DpopProofError', 'use_dpop_nonce', 'a nonce is required'],
    [new ReplayCacheFullError(), 'ReplayCacheFullError', 'replay_cache_full', 'the replay cache is full'],
    [new ClientAssertionError('the assertion needs a jti'), 'ClientAssertionError', 'invalid_client_assertion', 'the assertion needs a jti'],
    [new KeyError('unseal_failed', 'cannot unseal signing key'), 'KeyError', 'unseal_failed', 'cannot unseal signing key'],
    [new TokenVerificationError(401, null, 'an access token is required', 'Bearer realm="api"'), 'TokenVerificationError', 'token_required', 'an access token is required'],
  ];
  for (const [error, name, code, message] of cases) {
    test(`${name} (${code})`, () => {
      assert.ok(error instanceof DevicegateError);
      assert.ok(error instanceof Error);
      assert.equal(error.name, name);
      assert.equal(error.code, code);
      assert.equal(error.message, message);
    });
  }

  test("an OAuthError's code is its RFC error member, and it carries no stack frames", () => {
    const error = new OAuthError('slow_down', 'polling too fast', 400, { extra: { interval: 10 } });
    assert.equal(error.error, 'slow_down');
    assert.equal(error.description, 'polling too fast');
    assert.equal(error.stack?.split('\n').length, 1);
  });
});

describe('an internal detail stays out of the response', () => {
  const { sink, lines } = logLines();
  let dg: TestAppliance;
  before(async () => {
    dg = await startTestAppliance({ modules: 'none', deps: { logger: pino({ level: 'debug' }, sink) } });
    await dg.addClient({ clientId: 'errors-api', grantTypes: ['client_credentials'], scopes: ['api'] }, 'errors-api-secret-0123456789');
  });
  after(() => dg.stop());

  for (const [what, clientId, detail] of [
    ['a wrong secret', 'errors-api', 'wrong secret'],
    ['an unknown client', 'errors-nobody', 'no such client'],
  ] as const) {
    test(`${what}: one invalid_client answer; the debug log says which`, async () => {
      const result = await postForm(dg.issuer, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: basicAuthorization(clientId, 'not-the-secret-0123456789') });
      assert.equal(result.status, 401);
      assert.deepEqual(result.body, { error: 'invalid_client', error_description: 'unknown client or client authentication failed' });
      const refused = lines.filter((line) => line.msg === 'request refused');
      assert.ok(refused.some((line) => line.error === 'invalid_client' && line.detail === detail), JSON.stringify(refused));
    });
  }
});

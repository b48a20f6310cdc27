/** Where each endpoint lives; discovery advertises these, nothing else hard-codes them. */
export const paths = {
  openidConfiguration: '/.well-known/openid-configuration',
  authorizationServerMetadata: '/.well-known/oauth-authorization-server',
  deviceAuthorization: '/oauth/device_authorization',
  token: '/oauth/token',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  userinfo: '/oauth/userinfo',
  jwks: '/oauth/jwks',
  registration: '/oauth/register',
  /** The approval API of products' own sites (endpoints/approval-api.ts). */
  approvalApi: '/api/v1',
  pushWebSocket: '/push',
  health: '/healthz',
  ready: '/readyz',
} as const;

import pino, { type Logger } from 'pino';

/**
 * Structured JSON logs (pino). Secrets never reach a log line: request logs carry the path
 * without its query string (a verification_uri_complete holds a user code), and any field that
 * could hold a credential is redacted, should a future caller pass it by mistake.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'devicegate' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers.dpop',
          'res.headers["set-cookie"]',
          '*.device_code',
          '*.refresh_token',
          '*.access_token',
          '*.client_secret',
          '*.password',
          '*.user_code',
          'device_code',
          'refresh_token',
          'access_token',
          'client_secret',
          'password',
          'user_code',
        ],
        censor: '[redacted]',
      },
      serializers: {
        req: (request: { method?: string; url?: string; ip?: string }) => ({
          method: request.method,
          path: typeof request.url === 'string' ? request.url.split('?')[0] : undefined,
          ip: request.ip,
        }),
      },
    },
    destination,
  );
}

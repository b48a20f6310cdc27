import type { SessionStatus } from '../session.ts';
import type { CliIo } from './io.ts';

function relative(ms: number): string {
  const seconds = Math.round(Math.abs(ms) / 1000);
  const text = seconds < 120 ? `${seconds} s` : seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** `status`: facts about the profile, never a token (not even part of one). */
export function printStatus(io: CliIo, status: SessionStatus, json: boolean, now: number): void {
  if (json) {
    io.stdout.write(`${JSON.stringify(status)}\n`);
    return;
  }
  if (!status.loggedIn) {
    io.stdout.write(`profile "${status.profile}": not logged in\n`);
    return;
  }
  const rows: [string, string][] = [
    ['profile', status.profile],
    ['issuer', status.issuer ?? ''],
    ['client', status.clientId ?? ''],
  ];
  if (status.scope) rows.push(['scope', status.scope]);
  if (status.deviceName) rows.push(['device', status.deviceName]);
  const expiry = status.accessTokenExpiresAt;
  rows.push([
    'access',
    expiry === undefined
      ? 'stored (no expiry given)'
      : `${status.accessTokenValid ? 'valid' : 'expired or expiring'}, expires ${new Date(expiry).toISOString()} (${relative(expiry - now)})`,
  ]);
  rows.push(['refresh', status.hasRefreshToken ? 'stored (encrypted)' : 'none: log in again when the access token expires']);
  rows.push(['type', status.tokenType ?? 'Bearer']);
  if (status.dpop) rows.push(['dpop', `key stored${status.dpopThumbprint ? ` (jkt ${status.dpopThumbprint})` : ''}`]);
  rows.push(['store', status.storeFile]);
  const width = Math.max(...rows.map(([name]) => name.length));
  io.stdout.write(rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n') + '\n');
}

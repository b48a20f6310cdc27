import { readFileSync } from 'node:fs';
import { UsageError } from './mix.ts';
import type { PersonAccount } from './people/person.ts';

/**
 * Accounts of existing people for `--users-file`: a JSON array of {username, password}, or one
 * `username:password` per line (blank lines and # comments ignored). Passwords never go on the
 * command line, where `ps` shows them.
 */
export function readUsersFile(file: string): PersonAccount[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  if (text.trimStart().startsWith('[')) {
    const parsed: unknown = JSON.parse(text);
    if (!Array.isArray(parsed)) throw new UsageError(`${file}: expected an array of {username, password}`);
    return parsed.map((entry, index) => {
      const { username, password } = (entry ?? {}) as Record<string, unknown>;
      if (typeof username !== 'string' || typeof password !== 'string') throw new UsageError(`${file}: entry ${index + 1} lacks username or password`);
      return { username, password };
    });
  }
  const accounts: PersonAccount[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new UsageError(`${file}:${index + 1}: expected username:password`);
    accounts.push({ username: line.slice(0, colon), password: line.slice(colon + 1) });
  }
  if (accounts.length === 0) throw new UsageError(`${file}: no accounts`);
  return accounts;
}

// The crash test of lost-answers-crash-sqlite.test.ts on PostgreSQL (Debian's server, started by
// the test): 40 redemptions, then 40 refreshes, in flight while `devicegate serve` is killed with
// SIGKILL at several moments; after each restart every device's retry must sign it in, no family
// may lack a live refresh token, and none may be revoked by a retry within the window.
import { after } from 'node:test';
import pg from 'pg';
import { createPostgresStore } from '../../server/src/store/postgres/postgres-store.ts';
import { createDatabase, postgresAvailable, startPostgres, type Postgres } from '../support/postgres.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { crashSuite } from './support/lost-answers.ts';

let server: Postgres | undefined;
after(() => server?.stop());
crashSuite(
  'postgres',
  async () => {
    server = await startPostgres();
    const url = await createDatabase(server.url, 'lost_answers');
    const store = await createPostgresStore({ connectionString: url });
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    return {
      args: ['--database-url', url],
      store,
      async rows(sql) {
        return (await pool.query(sql)).rows;
      },
      async close() {
        await pool.end();
        await store.close();
      },
    };
  },
  // Two of the moments: a restart on PostgreSQL costs more, and the file must stay inside the
  // runner's time budget on a busy machine. The moment ten milliseconds in cuts off every request,
  // which the first answer's moment nearly does too.
  { skip: skipWithoutRealPart('postgresql', postgresAvailable()), moments: [{ afterAnswers: 1 }, { afterAnswers: 12 }] },
);

/**
 * Issues an access token (a JWT signed with AUTH_SECRET) and the demo page
 * link that carries it. Prints the token on the first line and the link on
 * the second; what it is for goes to stderr.
 *
 *   AUTH_SECRET=... npm run token -- --role host --room R [--name N] [--sub U] [--ttl 2h]
 *
 * The link is PUBLIC_URL (or http://127.0.0.1:$PORT) + `/?room=R&token=…`:
 * opening it stores the token in a cookie and drops it from the address bar.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createTokens, parseTtl, ROLES, type Role } from '../src/auth/index.js';
import { loadConfig } from '../src/config.js';

const USAGE = `usage: npm run token -- --role ${ROLES.join('|')} --room ROOM|'*' [--name NAME] [--sub USER_ID] [--ttl 2h]`;

export interface TokenLink {
  token: string;
  url: string;
  expiresAt: Date;
}

export async function issueToken(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<TokenLink> {
  const { values } = parseArgs({
    args: argv,
    options: {
      role: { type: 'string' },
      room: { type: 'string' },
      name: { type: 'string' },
      sub: { type: 'string' },
      ttl: { type: 'string', default: '2h' },
    },
  });
  if (!values.role || !ROLES.includes(values.role as Role)) throw new Error(`--role must be one of ${ROLES.join(', ')}\n${USAGE}`);
  if (!values.room) throw new Error(`--room is required ('*' for every room)\n${USAGE}`);
  const config = loadConfig(env);
  if (!config.auth.secret) throw new Error('AUTH_SECRET is not set: the server accepts no tokens without it');
  const ttl = parseTtl(values.ttl!);
  const token = await createTokens(config.auth.secret).sign(
    { sub: values.sub ?? randomUUID(), room: values.room, role: values.role as Role, ...(values.name ? { name: values.name } : {}) },
    ttl,
  );
  const base = (config.auth.publicUrl ?? `http://127.0.0.1:${config.port}`).replace(/\/+$/, '');
  const query = new URLSearchParams({ ...(values.room !== '*' ? { room: values.room } : {}), ...(values.name ? { name: values.name } : {}), token });
  return { token, url: `${base}/?${query}`, expiresAt: new Date(Date.now() + ttl * 1000) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  issueToken(process.argv.slice(2))
    .then(({ token, url, expiresAt }) => {
      process.stdout.write(`${token}\n${url}\n`);
      process.stderr.write(`(a token valid until ${expiresAt.toISOString()}; keep it secret: it is the bearer's key to the room)\n`);
    })
    .catch((err) => {
      process.stderr.write(`${err instanceof Error ? err.message : err}\n`);
      process.exit(1);
    });
}

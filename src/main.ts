import { pino } from 'pino';
import { startApp } from './app.js';
import { loadConfig } from './config.js';
import { logNodeVersion } from './node-version.js';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'info' });

async function main() {
  logNodeVersion(logger);
  const config = loadConfig();
  const app = await startApp(config, { logger });
  let stopping = false;
  // SIGTERM (a process manager's stop, with a grace period) drains: track files are finalized
  // without their remux and the next process composes the interrupted recordings.
  // SIGINT (Ctrl-C) stops with every file remuxed.
  const shutdown = async (signal: 'SIGINT' | 'SIGTERM') => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finalizing recordings');
    const force = setTimeout(() => {
      logger.error({ signal }, 'shutdown did not finish in 20 s: exiting anyway');
      process.exit(1);
    }, 20_000);
    force.unref();
    await (signal === 'SIGTERM' ? app.drain() : app.stop()).catch((err) => logger.error({ err }, 'shutdown failed'));
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

// Input never crashes the server: anything that escapes a handler is logged, not fatal.
process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception'));

main().catch((err) => {
  logger.fatal({ err: err instanceof Error ? err.message : err }, 'could not start');
  process.exit(1);
});

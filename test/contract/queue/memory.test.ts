import { createMemoryQueue } from '../../../src/queue/memory.js';
import { ACK_WAIT_MS, compositionQueueContract, MAX_DELIVER } from './queue.contract.js';

// Every open is a new process: an in-memory queue keeps nothing over a restart.
compositionQueueContract('memory', {
  fresh: async () => ({
    open: async () => createMemoryQueue({ ackWaitMs: ACK_WAIT_MS, maxDeliver: MAX_DELIVER }),
    cleanup: async () => {},
  }),
});

'use strict';
// posts — cross-thread posts: one producer thread sends 1 000 000 messages (100 000 with --quick)
// to the loop thread, which runs a callback per message; that callback counts. ops = messages.
// secs = from telling the started producer to go to the callback of the last message.
// A different mechanism from the libuv and evloop sides: the producer is a worker_threads Worker
// calling parentPort.postMessage(i) (structured clone of a small integer through a MessagePort);
// the main thread counts 'message' events. The worker's start-up (a new V8 isolate) is not timed:
// it says 'ready', and the clock starts when the main thread answers 'go'.
const { isMainThread, parentPort, workerData, Worker } = require('node:worker_threads');

if (isMainThread) {
  const { parseArgs, opCount, now, report } = require('./common');
  const { workload, quick } = parseArgs((w) => w === 'posts');
  const n = opCount(1_000_000, quick);
  process.stderr.write('node posts: worker_threads postMessage (a different mechanism)\n');

  const worker = new Worker(__filename, { workerData: n });
  let start;
  let received = 0;
  worker.once('message', () => {
    worker.on('message', () => {
      if (++received === n) {
        report(workload, n, start, now());
        worker.terminate();
      }
    });
    start = now();
    worker.postMessage('go');
  });
  worker.on('error', (err) => {
    throw err;
  });
} else {
  parentPort.once('message', () => {
    const n = workerData;
    for (let i = 0; i < n; i++) {
      parentPort.postMessage(i);
    }
  });
  parentPort.postMessage('ready');
}

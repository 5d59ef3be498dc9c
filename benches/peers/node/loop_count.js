'use strict';
// loop_count — libuv's is one idle watcher whose callback counts, stopped after 10 000 000 calls
// (1 000 000 with --quick). Node exposes no idle watcher; the nearest peer is a setImmediate
// callback that re-queues itself: it runs once per loop iteration and keeps poll non-blocking,
// as an active idle watcher does. ops = calls.
// secs = from before the first setImmediate to the end of the last call.
const { parseArgs, opCount, now, report } = require('./common');

const { workload, quick } = parseArgs((w) => w === 'loop_count');
const n = opCount(10_000_000, quick);
process.stderr.write('node loop_count: setImmediate re-queued from itself (nearest peer of an idle watcher)\n');

let calls = 0;
const start = now();
function onImmediate() {
  if (++calls === n) {
    report(workload, calls, start, now());
  } else {
    setImmediate(onImmediate);
  }
}
setImmediate(onImmediate);

'use strict';
// microtasks — from one callback (a 0 ms timer), queue 1 000 000 queueMicrotask callbacks
// (100 000 with --quick), each incrementing a counter; they run when that callback returns.
// ops = microtasks. secs = from the start of the queueing callback to the end of the last one.
// Node only: libuv has no microtask queue.
const { parseArgs, opCount, now, report } = require('./common');

const { workload, quick } = parseArgs((w) => w === 'microtasks');
const n = opCount(1_000_000, quick);

let ran = 0;
let start;
function onMicrotask() {
  if (++ran === n) {
    report(workload, n, start, now());
  }
}
setTimeout(() => {
  start = now();
  for (let i = 0; i < n; i++) {
    queueMicrotask(onMicrotask);
  }
}, 0);

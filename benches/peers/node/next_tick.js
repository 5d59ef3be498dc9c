'use strict';
// next_tick — from one callback (a 0 ms timer), queue 1 000 000 process.nextTick callbacks
// (100 000 with --quick), each incrementing a counter; they run when that callback returns.
// ops = ticks. secs = from the start of the queueing callback to the end of the last tick.
// Node only: libuv has no next-tick queue.
const { parseArgs, opCount, now, report } = require('./common');

const { workload, quick } = parseArgs((w) => w === 'next_tick');
const n = opCount(1_000_000, quick);

let ran = 0;
let start;
function onTick() {
  if (++ran === n) {
    report(workload, n, start, now());
  }
}
setTimeout(() => {
  start = now();
  for (let i = 0; i < n; i++) {
    process.nextTick(onTick);
  }
}, 0);

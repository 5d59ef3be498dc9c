'use strict';
// immediates — from one callback (a 0 ms timer), queue 1 000 000 setImmediate callbacks (100 000
// with --quick), each incrementing a counter. ops = immediates.
// secs = from the start of the queueing callback to the end of the last immediate.
const { parseArgs, opCount, now, report } = require('./common');

const { workload, quick } = parseArgs((w) => w === 'immediates');
const n = opCount(1_000_000, quick);

let ran = 0;
let start;
function onImmediate() {
  if (++ran === n) {
    report(workload, n, start, now());
  }
}
setTimeout(() => {
  start = now();
  for (let i = 0; i < n; i++) {
    setImmediate(onImmediate);
  }
}, 0);

'use strict';
// million_timers — 1 000 000 one-shot timers (100 000 with --quick). Timer i has a timeout of
// 1 + floor(i / 1000) ms: 1 ms for the first 1000, 2 ms for the next 1000, and so on. Start all
// and run until every timer fired. ops = timers.
// secs = CPU seconds (user + system, process.cpuUsage) from before the first setTimeout to the end of
// the last timer callback: the wall time is dominated by waiting for the last deadline (1 s).
// Node has no close step: a fired timer needs none (the libuv and evloop sides also close handles).
const { parseArgs, opCount, report } = require('./common');
const now = () => { const u = process.cpuUsage(); return BigInt(u.user + u.system) * 1000n; };

const { workload, quick } = parseArgs((w) => w === 'million_timers');
const n = opCount(1_000_000, quick);
process.stderr.write('node million_timers: setTimeout; no close step needed\n');

let fired = 0;
function onTimer() {
  if (++fired === n) {
    report(workload, n, start, now());
  }
}
const start = now();
for (let i = 0; i < n; i++) {
  setTimeout(onTimer, 1 + Math.floor(i / 1000));
}

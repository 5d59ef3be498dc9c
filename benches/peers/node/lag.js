// Node's answer to the lag benchmark (benches/lag_accuracy.rs runs it):
//   node benches/peers/node/lag.js --mode block|idle --resolution MS --seconds S
// mode block: a callback busy-waits 50 ms every 200 ms; mode idle: nothing runs.
// Prints one line: `max_ms=.. p50_ms=.. elu=.. true_block_ms=.. true_busy=..`.
'use strict';
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');

const args = process.argv.slice(2);
function arg(name, dflt) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
}
const mode = arg('mode', 'block');
const resolution = Number(arg('resolution', '10'));
const seconds = Number(arg('seconds', '3'));

const h = monitorEventLoopDelay({ resolution });
h.enable();
const elu0 = performance.eventLoopUtilization();
const start = performance.now();
let trueBlock = 0;
let busy = 0;

let blocker = null;
if (mode === 'block') {
  blocker = setInterval(() => {
    const t = performance.now();
    while (performance.now() - t < 50) {}
    const took = performance.now() - t;
    trueBlock = Math.max(trueBlock, took);
    busy += took;
  }, 200);
}

setTimeout(() => {
  if (blocker) clearInterval(blocker);
  h.disable();
  const elu = performance.eventLoopUtilization(elu0);
  const wall = performance.now() - start;
  console.log(
    `max_ms=${h.max / 1e6} p50_ms=${h.percentile(50) / 1e6} elu=${elu.utilization} ` +
      `true_block_ms=${trueBlock} true_busy=${busy / wall}`,
  );
}, seconds * 1000);

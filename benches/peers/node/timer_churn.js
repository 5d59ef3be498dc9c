'use strict';
// timer_churn — the idle-timeout pattern of a busy server. Create 10 000 timers of 5 s (not
// timed). Then 1 000 000 operations (100 000 with --quick): op i (counting from 0) takes timer
// i % 10 000; when i % 10 === 9 it clears that timer (clearTimeout) and creates a new 5 s timer in
// its place (setTimeout), otherwise it refreshes it (timeout.refresh()). Then clear all timers.
// ops = operations. secs = the operations loop plus the clear-all. No timer ever fires.
const { parseArgs, opCount, now, report } = require('./common');

const TIMERS = 10_000;
const TIMEOUT_MS = 5_000;
const { workload, quick } = parseArgs((w) => w === 'timer_churn');
const n = opCount(1_000_000, quick);

function onTimeout() {
  process.stderr.write('timer_churn: a 5 s timer fired; the run took too long to mean anything\n');
  process.exit(1);
}

const timers = new Array(TIMERS);
for (let k = 0; k < TIMERS; k++) {
  timers[k] = setTimeout(onTimeout, TIMEOUT_MS);
}

const start = now();
for (let i = 0; i < n; i++) {
  const k = i % TIMERS;
  if (i % 10 === 9) {
    clearTimeout(timers[k]);
    timers[k] = setTimeout(onTimeout, TIMEOUT_MS);
  } else {
    timers[k].refresh();
  }
}
for (let k = 0; k < TIMERS; k++) {
  clearTimeout(timers[k]);
}
report(workload, n, start, now());

'use strict';
// fs_stat_1, fs_stat_4, fs_stat_16, fs_stat_32 — stat one fixed existing file, /etc/hostname,
// 100 000 times in total (10 000 with --quick) with 1, 4, 16 or 32 requests in flight: each
// completion issues the next request until all have been issued. fs.stat with a callback (a
// uv_fs_stat on Node's libuv thread pool, 4 threads unless UV_THREADPOOL_SIZE is set).
// ops = completed stats. secs = from before the first fs.stat to the last completion callback.
const fs = require('node:fs');
const { parseArgs, opCount, now, report } = require('./common');

const PATH = '/etc/hostname';
const { workload, quick } = parseArgs((w) => /^fs_stat_[1-9][0-9]*$/.test(w));
const inFlight = Number(workload.slice('fs_stat_'.length));
const n = opCount(100_000, quick);

let issued = 0;
let done = 0;
function issue() {
  issued++;
  fs.stat(PATH, onStat);
}
function onStat(err) {
  if (err) throw err;
  if (++done === n) {
    report(workload, n, start, now());
  }
  if (issued < n) {
    issue();
  }
}
const start = now();
for (let i = 0; i < inFlight && issued < n; i++) {
  issue();
}

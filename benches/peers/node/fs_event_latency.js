'use strict';
// fs_event_latency — the time from a one-byte fs.writeSync to a watched file to fs.watch's
// 'change' callback, one write at a time (the next write is made from setImmediate after the
// callback). 2 000 samples (200 with --quick).
// Prints `workload=fs_event_latency samples=<n> median_us=<f> p99_us=<f>`.
const fs = require('fs');
const os = require('os');
const path = require('path');

const quick = process.argv.includes('--quick');
const want = quick ? 200 : 2000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-fslat-'));
const file = path.join(dir, 'f');
const fd = fs.openSync(file, 'w');
const samples = [];
let wrote = null;

function writeOne() {
  wrote = process.hrtime.bigint();
  fs.writeSync(fd, 'x');
}

const watcher = fs.watch(dir, (event, name) => {
  if (event !== 'change' || name !== 'f' || wrote === null) return;
  samples.push(Number(process.hrtime.bigint() - wrote) / 1e3);
  wrote = null;
  if (samples.length === want) {
    watcher.close();
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true });
    samples.sort((a, b) => a - b);
    const at = (q) => samples[Math.min(samples.length - 1, Math.floor(samples.length * q))];
    process.stdout.write(
      `workload=fs_event_latency samples=${samples.length} median_us=${at(0.5).toFixed(1)} p99_us=${at(0.99).toFixed(1)}\n`);
  } else {
    setImmediate(writeOne);
  }
});
setImmediate(writeOne);

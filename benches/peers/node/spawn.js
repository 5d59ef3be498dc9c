'use strict';
// spawn — n children of `true` (2 000; 200 with --quick) one after another, each spawned from
// the previous one's 'exit' event with stdio ignored. ops = spawns.
// secs = from before the first spawn to the last exit.
const { spawn } = require('child_process');
const { parseArgs, opCount, now, report } = require('./common');

const { workload, quick } = parseArgs((w) => w === 'spawn');
const n = opCount(2000, quick);
let left = n;
const start = now();
function next() {
  if (left === 0) {
    report(workload, n, start, now());
    return;
  }
  left--;
  const child = spawn('true', [], { stdio: 'ignore' });
  child.on('exit', (code, signal) => {
    if (code !== 0 || signal !== null) throw new Error(`true ended with ${code} ${signal}`);
    next();
  });
}
next();

'use strict';
// pipe_1g — pipe throughput from a child: `head -c <1024 MiB> /dev/zero` (102 MiB with --quick)
// read through its stdout pipe until 'close' (EOF and exit). ops = MiB.
// secs = from before spawn to 'close'.
const { spawn } = require('child_process');
const { parseArgs, opCount, now, report } = require('./common');

const { workload, quick } = parseArgs((w) => w === 'pipe_1g');
const mib = opCount(1024, quick);
const bytes = mib * 1024 * 1024;
let total = 0;
const start = now();
const child = spawn('head', ['-c', String(bytes), '/dev/zero'], { stdio: ['ignore', 'pipe', 'ignore'] });
child.stdout.on('data', (chunk) => { total += chunk.length; });
child.on('close', (code) => {
  if (code !== 0 || total !== bytes) throw new Error(`head: ${code}, ${total} bytes`);
  report(workload, mib, start, now());
});

'use strict';
// getaddrinfo — resolve "localhost" 20 000 times (2 000 with --quick) with 10 requests in flight:
// each completion issues the next request until all have been issued. dns.lookup with default
// options: getaddrinfo(3) on the libuv thread pool with AF_UNSPEC, SOCK_STREAM, no flags.
// ops = completed lookups. secs = from before the first lookup to the last completion callback.
const dns = require('node:dns');
const { parseArgs, opCount, now, report } = require('./common');

const HOST = 'localhost';
const IN_FLIGHT = 10;
const { workload, quick } = parseArgs((w) => w === 'getaddrinfo');
const n = opCount(20_000, quick);

let issued = 0;
let done = 0;
function issue() {
  issued++;
  dns.lookup(HOST, onLookup);
}
function onLookup(err) {
  if (err) throw err;
  if (++done === n) {
    report(workload, n, start, now());
  }
  if (issued < n) {
    issue();
  }
}
const start = now();
for (let i = 0; i < IN_FLIGHT && issued < n; i++) {
  issue();
}

'use strict';
// Shared by the Node peer scripts: argument parsing and the one output line.
//
// Every script is run as `node <script> <workload> [--quick]` and prints exactly one line on stdout:
//     workload=<name> ops=<integer> secs=<float> rate=<ops per second, float>
// Diagnostics go to stderr. `--quick` divides the op count by 10 (CI smoke runs).

// Parses `<workload> [--quick]`. `accepts(name)` says whether this script runs the workload; exits
// 2 (the "this side does not run that workload" status) on anything else.
function parseArgs(accepts) {
  const argv = process.argv.slice(2);
  const quick = argv.length === 2 && argv[1] === '--quick';
  if (argv.length < 1 || argv.length > 2 || (argv.length === 2 && !quick)) {
    process.stderr.write(`usage: node ${process.argv[1]} <workload> [--quick]\n`);
    process.exit(2);
  }
  const workload = argv[0];
  if (!accepts(workload)) {
    process.stderr.write(`unknown workload '${workload}' for ${process.argv[1]}\n`);
    process.exit(2);
  }
  return { workload, quick };
}

// The op count for a run: the full count, or a tenth of it with --quick.
function opCount(full, quick) {
  return quick ? Math.floor(full / 10) : full;
}

// Monotonic nanoseconds.
function now() {
  return process.hrtime.bigint();
}

// Prints the one result line; start and end are now() readings.
function report(workload, ops, start, end) {
  const secs = Number(end - start) / 1e9;
  process.stdout.write(
    `workload=${workload} ops=${ops} secs=${secs.toFixed(6)} rate=${(ops / secs).toFixed(1)}\n`);
}

module.exports = { parseArgs, opCount, now, report };

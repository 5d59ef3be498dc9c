// The Node peer of task_bench.sh's await chain: one async function awaiting N values that
// each settle after one microtask tick (`await null`: V8's cheapest await).
//   node benches/peers/node/await_chain.js 2000000
'use strict';
const n = Number(process.argv[2] || 1000000);
async function chain() {
  for (let i = 0; i < n; i++) await null;
}
const start = process.hrtime.bigint();
chain().then(() => {
  const ns = Number(process.hrtime.bigint() - start);
  console.log(`workload=await side=node n=${n} ns=${ns} ns_per_op=${(ns / n).toFixed(2)}`);
});

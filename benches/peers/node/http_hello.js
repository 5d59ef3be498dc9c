'use strict';
// The Node peer for benches/http_bench.sh: the same `Hello, World!` as `examples/http`'s `/`,
// on one event loop (no cluster). Usage: node http_hello.js [port]  (0 picks a free port).
// Prints `listening on 127.0.0.1:<port>` once ready, like the example.
const http = require('http');

const body = 'Hello, World!';
const server = http.createServer((req, res) => {
  res.writeHead(200, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': body.length,
    'Server': 'node',
  });
  res.end(body);
});
// The same hardened timeouts as evloop's ServerConfig defaults.
server.keepAliveTimeout = 5000;
server.headersTimeout = 10000;
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  const { address, port } = server.address();
  process.stdout.write(`listening on ${address}:${port}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));

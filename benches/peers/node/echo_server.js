'use strict';
// echo_server — the Node peer of evloop's `examples/echo` for `benches/net_bench.sh`.
//
//     node echo_server.js [--addr HOST:PORT]      (default 127.0.0.1:0: the kernel picks the port)
//
// `net.createServer`, each socket piped back to itself by hand (`data` → `write`, pausing on
// backpressure until `drain`, as `pipe` would). Prints `listening on <addr>` once listening;
// SIGTERM or SIGINT closes every socket and exits 0.
const net = require('net');

function parseAddr(argv) {
  let text = '127.0.0.1:0';
  if (argv.length === 2 && argv[0] === '--addr') {
    text = argv[1];
  } else if (argv.length !== 0) {
    process.stderr.write('usage: node echo_server.js [--addr HOST:PORT]\n');
    process.exit(2);
  }
  const colon = text.lastIndexOf(':');
  let host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(text.slice(colon + 1)) };
}

const { host, port } = parseAddr(process.argv.slice(2));
const sockets = new Set();
const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.on('data', (chunk) => {
    if (!socket.write(chunk)) socket.pause();
  });
  socket.on('drain', () => socket.resume());
  socket.on('end', () => socket.end());
  socket.on('error', () => socket.destroy());
  socket.on('close', () => sockets.delete(socket));
});
server.on('error', (err) => {
  process.stderr.write(`echo_server: ${err.message}\n`);
  process.exit(1);
});
server.listen({ host, port, backlog: 511 }, () => {
  const a = server.address();
  const shown = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  process.stdout.write(`listening on ${shown}\n`);
});

function stop() {
  server.close();
  for (const socket of sockets) socket.destroy();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

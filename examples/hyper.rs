//! `cargo run --release --features hyper --example hyper -- --addr 127.0.0.1:8080` — hyper 1.x
//! on evloop: `/` answers `Hello, World!` over HTTP/1.1 and over HTTP/2 with prior knowledge
//! (h2c: a connection that opens with HTTP/2's preface), on one port, one loop.
//!
//! ```sh
//! curl --http1.1 http://127.0.0.1:8080/
//! curl --http2-prior-knowledge http://127.0.0.1:8080/
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use evloop::Loop;
use evloop::task::hyper::{HyperExecutor, HyperTimer};
use evloop::task::{self, AsyncTcpListener, AsyncTcpStream};
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};

/// What an HTTP/2 connection with prior knowledge starts with (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn main() -> ExitCode {
    let addr = match parse_args() {
        Ok(addr) => addr,
        Err(msg) => {
            eprintln!("hyper: {msg}\nusage: hyper [--addr HOST:PORT]");
            return ExitCode::from(2);
        }
    };
    match run(addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hyper: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(addr: SocketAddr) -> evloop::Result<()> {
    let mut lp = Loop::new()?;
    let mut listener = AsyncTcpListener::tcp(&mut lp, addr)?;
    println!("listening on {}", listener.local_addr(&lp)?);
    let exec = HyperExecutor::new(&lp);
    lp.block_on(async move {
        loop {
            match listener.accept().await {
                Ok(stream) => {
                    if let Ok(join) = task::spawn(serve(stream, exec.clone())) {
                        join.detach();
                    }
                }
                Err(e) => eprintln!("hyper: accept: {e}"), // EMFILE: already shed
            }
        }
    })
}

/// One connection: HTTP/2 if it opens with the preface, HTTP/1.1 otherwise.
async fn serve(mut stream: AsyncTcpStream, exec: HyperExecutor) {
    let h2 = matches!(stream.peek(PREFACE.len()).await, Ok(p) if p == PREFACE);
    let service = hyper::service::service_fn(hello);
    let served = if h2 {
        hyper::server::conn::http2::Builder::new(exec)
            .timer(HyperTimer)
            .serve_connection(stream, service)
            .await
    } else {
        hyper::server::conn::http1::Builder::new()
            .timer(HyperTimer)
            .serve_connection(stream, service)
            .await
    };
    if let Err(e) = served
        && !e.is_incomplete_message()
    {
        eprintln!("hyper: connection: {e}");
    }
}

async fn hello(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = if req.uri().path() == "/" {
        (StatusCode::OK, "Hello, World!")
    } else {
        (StatusCode::NOT_FOUND, "not found\n")
    };
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(res)
}

fn parse_args() -> Result<SocketAddr, String> {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(addr)
}

//! The tokio peer of `examples/hyper`: the same hyper service on a current-thread tokio
//! runtime (HTTP/1.1; `hyper-util`'s `TokioIo` adapter), for `benches/task_bench.sh`.
//!
//! ```text
//! tokio_hyper --addr 127.0.0.1:0     # prints "listening on ADDR"
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

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

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .skip_while(|a| a != "--addr")
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| ([127, 0, 0, 1], 8080).into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (conn, _) = listener.accept().await?;
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(conn), hyper::service::service_fn(hello))
                    .await;
            });
        }
    })
}

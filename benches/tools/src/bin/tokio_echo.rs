//! The tokio peer of `benches/task_bench.sh`'s echo: a current-thread runtime, a task per
//! connection, read into a 64 KiB buffer and `write_all` it back (tokio's own echo example).
//!
//! ```text
//! tokio_echo --addr 127.0.0.1:0     # prints "listening on ADDR"
//! ```

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .skip_while(|a| a != "--addr")
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| ([127, 0, 0, 1], 7000).into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (mut conn, _) = listener.accept().await?;
            let _ = conn.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}

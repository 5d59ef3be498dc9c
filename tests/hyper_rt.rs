//! hyper 1.x on evloop (feature `hyper`): server and client, HTTP/1.1 and HTTP/2, hyper's
//! timer driving a header-read timeout, all on one loop.
#![cfg(feature = "hyper")]
mod util;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use evloop::task::hyper::{HyperExecutor, HyperTimer};
use evloop::task::{self, AsyncTcpListener};
use evloop::{Loop, Result};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use util::{assert_clean, with_timeout};

async fn echo_path(
    req: Request<hyper::body::Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("{} {:?}", req.uri().path(), req.version());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Serves `conns` connections (HTTP/2 if `h2`) and then stops listening.
fn serve(lp: &mut Loop, conns: usize, h2: bool) -> Result<SocketAddr> {
    let mut listener = AsyncTcpListener::tcp(lp, "127.0.0.1:0".parse().unwrap())?;
    let addr = listener.local_addr(lp)?;
    let exec = HyperExecutor::new(lp);
    lp.spawn_local(async move {
        for _ in 0..conns {
            let stream = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(echo_path);
            let exec = exec.clone();
            task::spawn(async move {
                let r = if h2 {
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
                r.unwrap();
            })
            .unwrap()
            .detach();
        }
    })
    .detach();
    Ok(addr)
}

#[test]
fn hyper_client_and_server_speak_http1_on_one_loop() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let addr = serve(&mut lp, 1, false).unwrap();
        let bodies = lp
            .block_on(async move {
                let stream = task::tcp_connect(addr).await.unwrap();
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(stream).await.unwrap();
                let driver = task::spawn(conn).unwrap();
                let mut bodies = Vec::new();
                for path in ["/a", "/b", "/c"] {
                    let req = Request::get(path)
                        .header("host", "evloop")
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let res = sender.send_request(req).await.unwrap();
                    assert_eq!(res.status(), 200);
                    let body = res.into_body().collect().await.unwrap().to_bytes();
                    bodies.push(String::from_utf8(body.to_vec()).unwrap());
                }
                drop(sender);
                driver.await.unwrap().unwrap();
                bodies
            })
            .unwrap();
        assert_eq!(bodies, ["/a HTTP/1.1", "/b HTTP/1.1", "/c HTTP/1.1"]);
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn hyper_client_and_server_speak_http2_with_concurrent_streams() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let addr = serve(&mut lp, 1, true).unwrap();
        let exec = HyperExecutor::new(&lp);
        let mut bodies = lp
            .block_on(async move {
                let stream = task::tcp_connect(addr).await.unwrap();
                let (sender, conn) = hyper::client::conn::http2::handshake(exec, stream)
                    .await
                    .unwrap();
                let driver = task::spawn(conn).unwrap();
                // Ten requests in flight at once on one connection.
                let mut joins = Vec::new();
                for i in 0..10 {
                    let mut sender = sender.clone();
                    joins.push(
                        task::spawn(async move {
                            let req = Request::get(format!("http://evloop/{i}"))
                                .body(Full::new(Bytes::new()))
                                .unwrap();
                            let res = sender.send_request(req).await.unwrap();
                            let body = res.into_body().collect().await.unwrap().to_bytes();
                            String::from_utf8(body.to_vec()).unwrap()
                        })
                        .unwrap(),
                    );
                }
                let mut bodies = Vec::new();
                for j in joins {
                    bodies.push(j.await.unwrap());
                }
                drop(sender);
                driver.await.unwrap().unwrap();
                bodies
            })
            .unwrap();
        bodies.sort();
        let mut want: Vec<String> = (0..10).map(|i| format!("/{i} HTTP/2.0")).collect();
        want.sort();
        assert_eq!(bodies, want);
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn hypers_header_read_timeout_runs_on_the_loops_timers() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let mut listener = AsyncTcpListener::tcp(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr(&lp).unwrap();
        lp.spawn_local(async move {
            let stream = listener.accept().await.unwrap();
            let r = hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer)
                .header_read_timeout(Duration::from_millis(100))
                .serve_connection(stream, hyper::service::service_fn(echo_path))
                .await;
            assert!(r.is_err(), "the slow client timed out");
        })
        .detach();
        // A client on another thread that sends half a request head and waits.
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
            let started = Instant::now();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            (
                started.elapsed(),
                String::from_utf8_lossy(&buf).into_owned(),
            )
        });
        lp.run().unwrap();
        let (waited, answer) = client.join().unwrap();
        assert!(waited >= Duration::from_millis(90), "{waited:?}");
        assert!(waited < Duration::from_secs(4), "{waited:?}");
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer:?}"
        );
        assert_clean(&lp);
    });
}

/// Armed loop timers, from inside a task's poll.
fn timers() -> usize {
    task::try_with_loop(|lp| {
        lp.active_handles()
            .iter()
            .filter(|h| h.kind == evloop::HandleKind::Timer && h.active)
            .count()
    })
    .unwrap()
}

#[test]
fn hyper_sleeps_in_deadline_order_share_one_loop_timer_and_fire_in_order() {
    use hyper::rt::Timer as _;
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let ms = Duration::from_millis;
        let (fired, counts) = lp
            .block_on(async move {
                let t = HyperTimer;
                let start = Instant::now();
                // In deadline order (queued, one loop timer), then two that are earlier than
                // one queued already (a timer each).
                let mut a = t.sleep(ms(40));
                let mut b = t.sleep(ms(80));
                let mut c = t.sleep(ms(20));
                let mut d = t.sleep(ms(60));
                std::future::poll_fn(|cx| {
                    for s in [&mut a, &mut b, &mut c, &mut d] {
                        assert!(s.as_mut().poll(cx).is_pending());
                    }
                    std::task::Poll::Ready(())
                })
                .await;
                let started = timers();
                drop(b); // leaves the queue; a still holds the shared timer
                let after_drop = timers();
                let mut fired = Vec::new();
                c.await;
                fired.push(("c", start.elapsed()));
                a.await;
                fired.push(("a", start.elapsed()));
                d.await;
                fired.push(("d", start.elapsed()));
                let at_end = timers();
                (fired, (started, after_drop, at_end))
            })
            .unwrap();
        assert_eq!(
            counts,
            (3, 3, 0),
            "one shared timer and two own ones, none left"
        );
        let names: Vec<_> = fired.iter().map(|f| f.0).collect();
        assert_eq!(names, ["c", "a", "d"]);
        for ((_, at), want) in fired.iter().zip([20, 40, 60]) {
            assert!(*at >= ms(want), "{fired:?}");
        }
        let t0 = Instant::now();
        lp.run().unwrap();
        assert!(t0.elapsed() < ms(50), "nothing keeps the loop alive");
        assert_clean(&lp);
    });
}

#[test]
fn dropping_the_last_queued_hyper_sleep_clears_the_shared_timer() {
    use hyper::rt::Timer as _;
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let counts = lp
            .block_on(async move {
                let mut long = HyperTimer.sleep(Duration::from_secs(30));
                std::future::poll_fn(|cx| {
                    assert!(long.as_mut().poll(cx).is_pending());
                    std::task::Poll::Ready(())
                })
                .await;
                let armed = timers();
                drop(long);
                (armed, timers())
            })
            .unwrap();
        assert_eq!(counts, (1, 0));
        let t0 = Instant::now();
        lp.run().unwrap();
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "the 30 s sleep is gone"
        );
        assert_clean(&lp);
    });
}

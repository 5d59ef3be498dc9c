//! Futures for handle kinds: TCP, Unix, UDP, timers, the pool, fs, DNS, signals; and each
//! future's cancellation when dropped.
// Some tests use Unix-only features (cfg(unix) below); their imports go unused on Windows.
#![cfg_attr(windows, allow(unused_imports))]
mod util;

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use evloop::{HandleKind, Loop, task};
use futures_io::{AsyncRead, AsyncWrite};
use util::task::race;
use util::{Counter, assert_clean, with_timeout};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn tcp_accept_connect_write_all_read_shutdown() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let mut listener =
            task::AsyncTcpListener::tcp(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr(&lp).unwrap();
        let server = lp.spawn_local(async move {
            let mut conn = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 7];
            loop {
                let n = conn.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            conn.write_all(got.clone()).await.unwrap().unwrap();
            conn.shutdown().await.unwrap().unwrap();
            got.len()
        });
        let client = lp.spawn_local(async move {
            let mut s = task::tcp_connect(addr).await.unwrap();
            let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
            s.write_all(payload.clone()).await.unwrap().unwrap();
            s.shutdown().await.unwrap().unwrap();
            let mut back = Vec::new();
            let mut buf = vec![0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&buf[..n]);
            }
            back == payload
        });
        let (n, same) = lp
            .block_on(async move { (server.await.unwrap(), client.await.unwrap()) })
            .unwrap();
        assert_eq!(n, 100_000);
        assert!(same);
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn a_refused_connect_is_an_error_and_leaves_nothing_open() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        // A port nobody listens on: bind, learn it, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let r = lp
            .block_on(async move { task::tcp_connect(port).await })
            .unwrap();
        let err = r.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn a_dropped_read_stops_reading() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let mut listener =
            task::AsyncTcpListener::tcp(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr(&lp).unwrap();
        let reading_after = Rc::new(Cell::new(None));
        let r = Rc::clone(&reading_after);
        lp.spawn_local(async move {
            let _client = task::tcp_connect(addr).await.unwrap();
            let mut conn = listener.accept().await.unwrap();
            let id = conn.handle();
            let mut buf = [0u8; 16];
            // The peer never writes: the sleep wins and the read is dropped.
            assert!(race(conn.read(&mut buf), task::sleep(ms(5))).await.is_err());
            let active = task::with_loop(move |lp| {
                lp.active_handles()
                    .iter()
                    .find(|h| h.id == evloop::Handle::id(id))
                    .map(|h| h.active)
            })
            .await
            .unwrap();
            r.set(active);
        })
        .detach();
        lp.run().unwrap();
        assert_eq!(
            reading_after.get(),
            Some(false),
            "the stream stopped reading"
        );
        assert_clean(&lp);
    });
}

#[test]
fn aborting_a_task_blocked_in_accept_and_read_closes_everything() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let mut listener =
            task::AsyncTcpListener::tcp(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr(&lp).unwrap();
        let after = Counter::new();
        let a = after.clone();
        let server = lp.spawn_local(async move {
            let mut conn = listener.accept().await.unwrap();
            let mut buf = [0u8; 4];
            let _ = conn.read(&mut buf).await;
            a.inc();
        });
        let client = lp.spawn_local(async move {
            let _s = task::tcp_connect(addr).await.unwrap();
            task::sleep(Duration::from_secs(30)).await.unwrap();
        });
        lp.set_timeout(ms(20), move |_, _| {
            assert!(server.abort());
            assert!(client.abort());
        });
        lp.run().unwrap();
        assert_eq!(after.get(), 0, "no code of the aborted task ran");
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

#[test]
fn a_connect_dropped_while_connecting_closes_its_stream() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connect = lp.spawn_local(async move { task::tcp_connect(addr).await.map(|_| ()) });
        let abort = connect.abort_handle();
        // Runs right after the task's first poll (which started the connect): drops it.
        lp.queue_microtask(move |lp| {
            assert_eq!(
                lp.active_handles()
                    .iter()
                    .filter(|h| h.kind == HandleKind::TcpStream)
                    .count(),
                1,
                "the connect started"
            );
            assert!(abort.abort());
        });
        lp.run().unwrap();
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

/// A Unix-domain socket on Unix, a named pipe on Windows (the same API).
#[test]
fn async_read_and_async_write_traits_over_a_unix_stream() {
    with_timeout(10, || {
        #[cfg(unix)]
        let path = {
            let dir = std::env::temp_dir().join(format!("evloop-task-{}", std::process::id()));
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join("io.sock");
            let _ = std::fs::remove_file(&path);
            path
        };
        #[cfg(windows)]
        let path =
            std::path::PathBuf::from(format!(r"\\.\pipe\evloop-task-{}-io", std::process::id()));
        let mut lp = Loop::new().unwrap();
        let mut listener = task::AsyncUnixListener::unix(&mut lp, &path).unwrap();
        let p = path.clone();
        let got = lp
            .block_on(async move {
                let client = task::spawn(async move {
                    let mut s = task::unix_connect(p).await.unwrap();
                    let mut s = Pin::new(&mut s);
                    let mut sent = 0;
                    let msg = b"hello over futures-io";
                    while sent < msg.len() {
                        sent += std::future::poll_fn(|cx| s.as_mut().poll_write(cx, &msg[sent..]))
                            .await
                            .unwrap();
                    }
                    std::future::poll_fn(|cx| s.as_mut().poll_flush(cx))
                        .await
                        .unwrap();
                    std::future::poll_fn(|cx| s.as_mut().poll_close(cx))
                        .await
                        .unwrap();
                    // Writing after close is an error, not a panic.
                    let err = std::future::poll_fn(|cx| s.as_mut().poll_write(cx, b"x"))
                        .await
                        .unwrap_err();
                    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
                })
                .unwrap();
                let mut conn = listener.accept().await.unwrap();
                let mut conn = Pin::new(&mut conn);
                let mut got = Vec::new();
                let mut buf = [0u8; 5];
                loop {
                    let n = std::future::poll_fn(|cx| conn.as_mut().poll_read(cx, &mut buf))
                        .await
                        .unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                client.await.unwrap();
                got
            })
            .unwrap();
        assert_eq!(got, b"hello over futures-io");
        lp.run().unwrap();
        assert_clean(&lp);
        #[cfg(unix)]
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    });
}

#[test]
fn udp_send_and_receive_and_a_dropped_receive_stops_receiving() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let mut a = task::AsyncUdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let b = task::AsyncUdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let a_addr = a.handle().local_addr(&lp).unwrap();
        let b_addr = b.handle().local_addr(&lp).unwrap();
        let out = lp
            .block_on(async move {
                b.send_to(b"ping", a_addr).await.unwrap().unwrap();
                let (data, from) = a.recv_from().await.unwrap();
                // Nothing more arrives: the receive is dropped and receiving stops.
                assert!(race(a.recv_from(), task::sleep(ms(5))).await.is_err());
                let id = a.handle();
                let active = task::with_loop(move |lp| {
                    lp.active_handles()
                        .iter()
                        .find(|h| h.id == evloop::Handle::id(id))
                        .map(|h| h.active)
                })
                .await
                .unwrap();
                (data, from, active)
            })
            .unwrap();
        assert_eq!(out, (b"ping".to_vec(), b_addr, Some(false)));
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn interval_ticks_and_its_drop_clears_the_timer() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let n = lp
            .block_on(async {
                let mut iv = task::interval(ms(2));
                for _ in 0..3 {
                    iv.tick().await.unwrap();
                }
                let live = task::with_loop(|lp| lp.active_handles().len())
                    .await
                    .unwrap();
                drop(iv);
                let after =
                    task::with_loop(|lp| lp.active_handles().iter().filter(|h| !h.closing).count())
                        .await
                        .unwrap();
                (live, after)
            })
            .unwrap();
        assert_eq!(n, (1, 0));
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[test]
fn spawn_blocking_returns_the_value_and_a_panic() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let (v, p) = lp
            .block_on(async {
                let v = task::spawn_blocking(|| (1..=10u64).product::<u64>())
                    .await
                    .unwrap();
                let p = task::spawn_blocking(|| -> u8 { panic!("in the pool") }).await;
                (v, p.map_err(|e| e.to_string()))
            })
            .unwrap();
        assert_eq!(v, 3_628_800);
        assert!(p.unwrap_err().contains("in the pool"));
        assert_clean(&lp);
    });
}

#[test]
fn a_dropped_pool_job_is_canceled_while_queued() {
    with_timeout(10, || {
        let mut lp = Loop::builder().threadpool_size(1).build().unwrap();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        let started = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&started);
        let out = lp
            .block_on(async move {
                // Occupy the only worker.
                let busy = task::spawn(task::spawn_blocking(move || {
                    s.store(true, Ordering::SeqCst);
                    let _ = release_rx.recv_timeout(Duration::from_secs(5));
                }))
                .unwrap();
                // Wait until the worker runs the busy job.
                while !started.load(Ordering::SeqCst) {
                    task::sleep(ms(1)).await.unwrap();
                }
                let queued = task::spawn_blocking(move || r.store(true, Ordering::SeqCst));
                // The queued job loses the race and is dropped: canceled, never run.
                let lost = race(queued, task::sleep(ms(5))).await.is_err();
                // The cancellation runs right after this poll: release the worker after it.
                task::yield_now().await;
                release_tx.send(()).unwrap();
                busy.await.unwrap().unwrap();
                lost
            })
            .unwrap();
        assert!(out);
        lp.run().unwrap();
        assert!(!ran.load(Ordering::SeqCst), "the canceled job never ran");
        assert_clean(&lp);
    });
}

#[cfg(unix)] // Unix sockets, signals, evloop::fs or evloop::dns: absent on Windows
#[test]
fn any_callback_api_through_callback_fs_and_dns() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let (len, missing, addrs) = lp
            .block_on(async {
                let bytes = task::callback(|lp, done| {
                    evloop::fs::read_file(lp, "Cargo.toml", move |_, r| done.complete(r))
                })
                .await
                .unwrap()
                .unwrap();
                let missing = task::callback(|lp, done| {
                    evloop::fs::stat(lp, "/no/such/evloop/file", move |_, r| done.complete(r))
                })
                .await
                .unwrap()
                .unwrap_err()
                .kind();
                let addrs = task::lookup("127.0.0.1", "80", evloop::dns::Hints::default())
                    .await
                    .unwrap();
                (bytes.len(), missing, addrs)
            })
            .unwrap();
        assert!(len > 100);
        assert_eq!(missing, std::io::ErrorKind::NotFound);
        assert!(
            addrs.contains(&"127.0.0.1:80".parse().unwrap()),
            "{addrs:?}"
        );
        assert_clean(&lp);
    });
}

#[test]
fn a_completer_dropped_without_a_value_is_canceled() {
    with_timeout(10, || {
        let mut lp = Loop::new().unwrap();
        let r = lp
            .block_on(async { task::callback(|_lp, done: task::Completer<u8>| drop(done)).await })
            .unwrap();
        assert!(r.unwrap_err().is_canceled());
        assert_clean(&lp);
    });
}

#[cfg(unix)] // Unix sockets, signals, evloop::fs or evloop::dns: absent on Windows
#[test]
fn signals_arrive_as_a_stream_and_dropping_it_closes_the_handle() {
    with_timeout(10, || {
        use signal_hook::consts::SIGUSR1;
        let mut lp = Loop::new().unwrap();
        let mut sigs = task::Signals::new(&mut lp, SIGUSR1).unwrap();
        let got = lp
            .block_on(async move {
                let mut got = Vec::new();
                for _ in 0..2 {
                    signal_hook::low_level::raise(SIGUSR1).unwrap();
                    got.push(sigs.recv().await);
                }
                // Nothing more was raised: the stream waits, the sleep wins.
                let waited = race(sigs.recv(), task::sleep(ms(5))).await.is_err();
                drop(sigs);
                (got, waited)
            })
            .unwrap();
        assert_eq!(got, (vec![SIGUSR1, SIGUSR1], true));
        lp.run().unwrap();
        assert_clean(&lp);
    });
}

#[cfg(unix)] // Unix sockets, signals, evloop::fs or evloop::dns: absent on Windows
#[test]
fn aborting_tasks_blocked_in_every_kind_of_future_leaves_the_loop_clean() {
    with_timeout(20, || {
        let mut lp = Loop::new().unwrap();
        let after = Counter::new();
        let mut listener =
            task::AsyncTcpListener::tcp(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr(&lp).unwrap();
        let mut udp = task::AsyncUdpSocket::bind(&mut lp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let mut joins = Vec::new();
        let a = after.clone();
        // A write that cannot finish: the peer (accepted below, never read) stops taking bytes.
        joins.push(lp.spawn_local(async move {
            let mut s = task::tcp_connect(addr).await.unwrap();
            let _ = s.write_all(vec![7u8; 64 << 20]).await;
            a.inc();
        }));
        let a = after.clone();
        joins.push(lp.spawn_local(async move {
            let _peer = listener.accept().await.unwrap();
            let _ = listener.accept().await; // never comes
            a.inc();
        }));
        let a = after.clone();
        joins.push(lp.spawn_local(async move {
            let _ = udp.recv_from().await;
            a.inc();
        }));
        let a = after.clone();
        joins.push(lp.spawn_local(async move {
            let _ = task::spawn_blocking(|| std::thread::sleep(ms(50))).await;
            a.inc();
        }));
        let a = after.clone();
        joins.push(lp.spawn_local(async move {
            let _ = task::lookup("localhost", "80", evloop::dns::Hints::default()).await;
            let _ = task::sleep(Duration::from_secs(30)).await;
            a.inc();
        }));
        let a = after.clone();
        joins.push(lp.spawn_local(async move {
            let mut iv = task::interval(ms(1));
            for _ in 0..1_000_000 {
                iv.tick().await.unwrap();
            }
            a.inc();
        }));
        let a = after.clone();
        joins.push(lp.spawn_local(async move {
            let _ = task::callback(|lp, done| {
                evloop::fs::read_file(lp, "Cargo.toml", move |_, r| done.complete(r))
            })
            .await;
            let _ = task::sleep(Duration::from_secs(30)).await;
            a.inc();
        }));
        lp.set_timeout(ms(30), move |_, _| {
            for j in &joins {
                assert!(j.abort(), "still running when aborted");
            }
        });
        let started = std::time::Instant::now();
        lp.run().unwrap();
        assert_eq!(after.get(), 0, "no aborted task ran past its await");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nothing was left waiting"
        );
        assert_eq!(lp.task_count(), 0);
        assert_clean(&lp);
    });
}

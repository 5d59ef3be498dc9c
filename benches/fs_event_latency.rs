//! fs-event latency: the time from a `write(2)` of one byte to a watched file to the watch's
//! callback, sampled one write at a time (the next write is made from an immediate after the
//! callback). Prints `workload=fs_event_latency samples=<n> median_us=<f> p99_us=<f>`.
//! The peer is `benches/peers/node/fs_event_latency.js`; `bash benches/fs_event_bench.sh`
//! runs both, interleaved.
//!
//! Run by hand: `cargo bench --bench fs_event_latency -- [--quick]`.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::fs::event::{FsEvent, FsWatchOptions};
use evloop::{Handle, Loop};

struct State {
    file: std::fs::File,
    wrote: Option<Instant>,
    samples: Vec<Duration>,
    want: usize,
}

fn write_one(st: &Rc<RefCell<State>>) {
    let mut s = st.borrow_mut();
    s.wrote = Some(Instant::now());
    s.file.write_all(b"x").expect("write the watched file");
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let want = if quick { 200 } else { 2000 };
    let dir = std::env::temp_dir().join(format!("evloop-fslat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("f");
    let file = std::fs::File::create(&path).expect("create the watched file");
    let mut lp = Loop::new().expect("loop");
    let st = Rc::new(RefCell::new(State {
        file,
        wrote: None,
        samples: Vec::with_capacity(want),
        want,
    }));
    let s2 = Rc::clone(&st);
    lp.fs_watch(&dir, FsWatchOptions::default(), move |lp, w, ev| {
        if !matches!(ev, FsEvent::Modified(_)) {
            return;
        }
        let now = Instant::now();
        let done = {
            let mut s = s2.borrow_mut();
            let Some(t0) = s.wrote.take() else { return };
            s.samples.push(now - t0);
            s.samples.len() == s.want
        };
        if done {
            w.close(lp, |_| {}).expect("close");
        } else {
            let s3 = Rc::clone(&s2);
            lp.set_immediate(move |_| write_one(&s3));
        }
    })
    .expect("watch");
    let s3 = Rc::clone(&st);
    lp.set_immediate(move |_| write_one(&s3));
    lp.run().expect("run");
    let mut samples = std::mem::take(&mut st.borrow_mut().samples);
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "workload=fs_event_latency samples={} median_us={:.1} p99_us={:.1}",
        samples.len(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6
    );
    let _ = std::fs::remove_dir_all(&dir);
}

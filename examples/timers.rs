//! `cargo run --example timers` — timers, immediates and microtasks, and the order they run in.

use std::time::Duration;

use evloop::{Handle, Loop};

fn main() -> Result<(), evloop::Error> {
    let mut lp = Loop::new()?;
    let mut beats = 0;
    lp.set_interval(Duration::from_millis(100), move |lp, timer| {
        beats += 1;
        println!("interval: beat {beats}");
        lp.queue_microtask(move |_| println!("  microtask after beat {beats}"));
        lp.next_tick(move |_| {
            println!("  next-tick after beat {beats} (runs before the microtask)")
        });
        if beats == 3 {
            timer
                .close(lp, |_| println!("interval closed"))
                .expect("the timer is live");
        }
    });
    lp.set_timeout(Duration::from_millis(150), |_, _| {
        println!("timeout: 150 ms")
    });
    lp.set_immediate(|_| println!("immediate: first check phase"));
    for handle in lp.active_handles() {
        println!("live: {handle}");
    }
    lp.run()?;
    println!("loop done: nothing left alive");
    Ok(())
}

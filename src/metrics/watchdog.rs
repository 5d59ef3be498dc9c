//! The watchdog: a thread that reports a callback that is *still* blocking the loop.
//!
//! The loop publishes "callback X started at T" in a few atomics (its beacon) and clears them
//! when the callback returns; the thread looks at the beacon and, when one callback has been
//! running longer than the threshold, calls the hook — from its own thread, while the loop is
//! still stuck. That is what catches infinite loops and deadlocks, which a report after the
//! callback returns never would.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::event_loop::Loop;
use crate::event_loop::{CallbackKind, Phase};
use crate::handle::Site;
use crate::metrics::histogram::Short;

/// A callback that has been blocking the loop longer than the watchdog's threshold, reported
/// while it is still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stall {
    /// The `file:line` that registered the callback.
    pub site: Site,
    /// What kind of callback it is.
    pub kind: CallbackKind,
    /// The phase it is running in.
    pub phase: Phase,
    /// How long it has been running when this report was made.
    pub blocked_for: Duration,
    /// 1 for the first report of this stall, 2 for the first repeat, and so on.
    pub report: u32,
}

/// `callback registered at src/x.rs:42 (timer) has blocked the loop for 1.30s`
impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "callback registered at {} ({}) has blocked the loop for {}",
            self.site,
            self.kind,
            Short(self.blocked_for)
        )
    }
}

/// What the loop publishes about the running callback.
struct Beacon {
    /// Start of the running callback in loop ns + 1; 0 while no callback runs.
    started: AtomicU64,
    /// Index of the running callback's site in `sites`.
    site: AtomicU32,
    /// Every site the loop has published, by index: the thread resolves `site` here (a lock
    /// only when it reports), so no pointer crosses threads.
    sites: Mutex<Vec<Site>>,
    /// `phase << 8 | kind index`.
    what: AtomicU16,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// The loop's handle on a running watchdog thread; dropping it stops and joins the thread.
pub(crate) struct Watchdog {
    beacon: Arc<Beacon>,
    thread: Option<JoinHandle<()>>,
    /// Site address to its index in `beacon.sites`; loop thread only.
    site_ids: HashMap<usize, u32>,
    /// The last site published: callbacks of one handle repeat, so most lookups stop here.
    last_site: Option<(Site, u32)>,
}

struct Config {
    epoch: Instant,
    threshold: Duration,
    repeat: Option<Duration>,
    hook: Box<dyn Fn(&Stall) + Send>,
}

impl Watchdog {
    fn start(config: Config) -> io::Result<Self> {
        let beacon = Arc::new(Beacon {
            started: AtomicU64::new(0),
            site: AtomicU32::new(0),
            sites: Mutex::new(Vec::new()),
            what: AtomicU16::new(0),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let b = Arc::clone(&beacon);
        let thread = std::thread::Builder::new()
            .name("evloop-watchdog".into())
            .spawn(move || watch(&b, &config))?;
        Ok(Self {
            beacon,
            thread: Some(thread),
            site_ids: HashMap::new(),
            last_site: None,
        })
    }

    /// A callback starts (`started_ns` in loop ns). Release stores: a watchdog that sees the new
    /// start also sees this callback's site, and a site it reads after seeing an older start
    /// makes it re-read the start (see `read`).
    #[inline]
    pub(crate) fn enter(&mut self, started_ns: u64, site: Site, phase: Phase, kind: CallbackKind) {
        let site = self.site_index(site);
        let b = &self.beacon;
        b.site.store(site, Ordering::Release);
        b.what.store(
            u16::from(phase as u8) << 8 | u16::from(kind.index()),
            Ordering::Release,
        );
        b.started
            .store(started_ns.saturating_add(1), Ordering::Release);
    }

    /// The index of `site` in the shared table, adding it on first sight.
    fn site_index(&mut self, site: Site) -> u32 {
        if let Some((last, index)) = self.last_site
            && std::ptr::eq(last, site)
        {
            return index;
        }
        let sites = &self.beacon.sites;
        let index = *self
            .site_ids
            .entry(std::ptr::from_ref(site) as usize)
            .or_insert_with(|| {
                let mut sites = sites.lock().unwrap_or_else(PoisonError::into_inner);
                sites.push(site);
                u32::try_from(sites.len() - 1).unwrap_or(u32::MAX)
            });
        self.last_site = Some((site, index));
        index
    }

    /// The callback returned (or unwound).
    #[inline]
    pub(crate) fn exit(&self) {
        self.beacon.started.store(0, Ordering::Release);
    }

    fn stop(&mut self) {
        *self
            .beacon
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.beacon.wake.notify_all();
        if let Some(t) = self.thread.take() {
            // A panicking hook ended the thread early; nothing left to clean up.
            let _ = t.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The running callback's start (loop ns), site and kind, read consistently: the start is read
/// before and after the rest, and the loop rewrites the rest only after clearing the start.
fn read(b: &Beacon) -> Option<(u64, Site, Phase, CallbackKind)> {
    let s1 = b.started.load(Ordering::Acquire);
    if s1 == 0 {
        return None;
    }
    let site = b.site.load(Ordering::Acquire);
    let what = b.what.load(Ordering::Acquire);
    if b.started.load(Ordering::Acquire) != s1 {
        return None;
    }
    let site: Site = *b
        .sites
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(site as usize)?;
    let phase = Phase::ALL.get(usize::from(what >> 8)).copied()?;
    let kind = CallbackKind::from_index(what as u8)?;
    Some((s1 - 1, site, phase, kind))
}

/// The watchdog thread: look at the beacon, report, sleep until the next thing could happen.
fn watch(b: &Beacon, config: &Config) {
    // While nothing runs, look a few times per threshold: a callback starting right after a
    // look is then seen at most a quarter threshold late.
    let idle_wait =
        (config.threshold / 4).clamp(Duration::from_millis(1), Duration::from_millis(250));
    let mut stall_start = u64::MAX;
    let mut reports: u32 = 0;
    let mut stop = b.stop.lock().unwrap_or_else(PoisonError::into_inner);
    while !*stop {
        let mut wait = idle_wait;
        if let Some((start, site, phase, kind)) = read(b) {
            if start != stall_start {
                stall_start = start;
                reports = 0;
            }
            let next_report = match (reports, config.repeat) {
                (0, _) => Some(config.threshold),
                (n, Some(every)) => Some(config.threshold + every * n),
                (_, None) => None,
            };
            let now = u64::try_from(config.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let blocked_for = Duration::from_nanos(now.saturating_sub(start));
            if let Some(at) = next_report {
                if blocked_for >= at {
                    reports += 1;
                    let stall = Stall {
                        site,
                        kind,
                        phase,
                        blocked_for,
                        report: reports,
                    };
                    drop(stop);
                    (config.hook)(&stall);
                    stop = b.stop.lock().unwrap_or_else(PoisonError::into_inner);
                    continue;
                }
                wait = wait.min(at - blocked_for);
            }
        }
        stop = b
            .wake
            .wait_timeout(stop, wait)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// # Metrics: the watchdog thread
impl Loop {
    /// Starts a watchdog thread that calls `hook` (on that thread) when a callback has been
    /// running for longer than `threshold` — while it is still running, so an infinite loop or a
    /// deadlock inside a callback is reported with the `file:line` that registered it. Each
    /// stall is reported once. Replaces a running watchdog.
    ///
    /// Cost on the loop: callbacks are timed (two clock reads) and each publishes its start and
    /// site in a few atomic stores. The thread stops when [`Loop::stop_watchdog`] is called or
    /// the loop is dropped. Fails only if the thread cannot be spawned.
    ///
    /// ```
    /// use std::time::Duration;
    /// # fn main() -> std::io::Result<()> {
    /// let mut lp = evloop::Loop::new()?;
    /// lp.start_watchdog(Duration::from_millis(100), |stall| eprintln!("watchdog: {stall}"))?;
    /// lp.set_timeout(Duration::ZERO, |_, _| std::thread::sleep(Duration::from_millis(300)));
    /// lp.run().unwrap(); // after ~100 ms: "watchdog: callback registered at src/main.rs:6
    ///                    // (timer) has blocked the loop for 100ms"
    /// assert!(lp.stop_watchdog());
    /// # Ok(())
    /// # }
    /// ```
    pub fn start_watchdog(
        &mut self,
        threshold: Duration,
        hook: impl Fn(&Stall) + Send + 'static,
    ) -> io::Result<()> {
        self.start_watchdog_with(threshold, None, Box::new(hook))
    }

    /// Like [`Loop::start_watchdog`], and reports a stall again every `every` while it lasts
    /// ([`Stall::report`] counts the reports).
    pub fn start_watchdog_repeating(
        &mut self,
        threshold: Duration,
        every: Duration,
        hook: impl Fn(&Stall) + Send + 'static,
    ) -> io::Result<()> {
        let every = every.max(Duration::from_millis(1));
        self.start_watchdog_with(threshold, Some(every), Box::new(hook))
    }

    fn start_watchdog_with(
        &mut self,
        threshold: Duration,
        repeat: Option<Duration>,
        hook: Box<dyn Fn(&Stall) + Send>,
    ) -> io::Result<()> {
        self.stop_watchdog();
        let watchdog = Watchdog::start(Config {
            epoch: self.clock().epoch,
            threshold,
            repeat,
            hook,
        })?;
        self.instruments_mut().watchdog = Some(watchdog);
        self.instruments_mut().update_timing();
        Ok(())
    }

    /// Stops the watchdog thread and waits for it to end; returns whether one was running.
    pub fn stop_watchdog(&mut self) -> bool {
        let had = self.instruments_mut().watchdog.take().is_some(); // dropping joins the thread
        self.instruments_mut().update_timing();
        had
    }
}

//! The loop's opt-in policy for a panicking callback, as Node's `uncaughtException`: report it
//! with the callback's site and go on. Without a hook (the default) the panic unwinds out of
//! `run`, which is the safe choice when a callback's half-done work may have broken an
//! invariant of the program.

use std::any::Any;
use std::fmt;

use super::Loop;
use crate::handle::Site;

/// A panic caught by the loop under [`Loop::on_uncaught_panic`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UncaughtPanic {
    /// The panic's message (`"<non-string payload>"` if it carried something else).
    pub message: String,
    /// Where the callback that panicked was registered, if the panic came from a callback (it
    /// may also come from the loop's own code between callbacks).
    pub site: Option<Site>,
}

impl fmt::Display for UncaughtPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.site {
            Some(site) => write!(
                f,
                "callback registered at {site} panicked: {}",
                self.message
            ),
            None => write!(f, "the loop panicked: {}", self.message),
        }
    }
}

type Hook = Box<dyn FnMut(&UncaughtPanic)>;

/// The hook, and the site of the callback running now.
#[derive(Default)]
pub(crate) struct Uncaught {
    hook: Option<Hook>,
    /// The innermost callback running (restored as callbacks return; left as it was by a
    /// panic, so it names the callback that panicked).
    pub(crate) site: Option<Site>,
}

impl Uncaught {
    /// Reports `payload` to the hook; `false` if there is none (the panic must unwind).
    pub(super) fn report(&mut self, payload: &(dyn Any + Send)) -> bool {
        let site = self.site.take();
        let Some(hook) = self.hook.as_mut() else {
            return false;
        };
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<non-string payload>".to_owned());
        hook(&UncaughtPanic { message, site });
        true
    }
}

impl Loop {
    /// Opts in to Node's `uncaughtException` policy: a callback that panics is reported to
    /// `hook` (with the site where it was registered) and the loop goes on with the next one,
    /// instead of unwinding out of [`run`](Self::run). The callback that panicked is treated as
    /// having returned (an interval stays armed, a one-shot is spent). Under
    /// [`RunMode::Once`](super::RunMode::Once) and [`RunMode::NoWait`](super::RunMode::NoWait),
    /// `run_mode` returns after the report. [`unwind_on_panic`](Self::unwind_on_panic) restores
    /// the default, unwinding: the safe choice when a half-done callback may have left your own
    /// state inconsistent.
    ///
    /// ```
    /// # fn main() -> Result<(), evloop::Error> {
    /// let mut lp = evloop::Loop::new()?;
    /// lp.on_uncaught_panic(|p| eprintln!("{p}"));
    /// lp.set_immediate(|_| panic!("bug"));
    /// lp.run()?; // reported, not unwound
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_uncaught_panic(&mut self, hook: impl FnMut(&UncaughtPanic) + 'static) {
        self.uncaught.hook = Some(Box::new(hook));
    }

    /// Restores the default after [`on_uncaught_panic`](Self::on_uncaught_panic): a panicking
    /// callback unwinds out of [`run`](Self::run).
    pub fn unwind_on_panic(&mut self) {
        self.uncaught.hook = None;
    }
}

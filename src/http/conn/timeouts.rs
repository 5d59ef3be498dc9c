//! A connection's deadlines: the one the glue arms a timer for (the receive side's — header,
//! body, idle, linger — or the send timeout, whichever comes first), and what a fired timer
//! does.

use std::time::{Duration, Instant};

use super::{Conn, Life, Now};

/// A deadline counts as reached this close to it, so a timer that fires a hair early by
/// rounding does not re-arm for microseconds.
const SLACK: Duration = Duration::from_millis(1);

impl Conn {
    /// The one deadline this connection has now, if any.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let sending = self.send_since.map(|since| since + self.cfg.send_timeout);
        match (self.receive_deadline(), sending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The deadline of the receiving side (and of lingering).
    fn receive_deadline(&self) -> Option<Instant> {
        match self.life {
            Life::Lingering(since) => Some(since + self.cfg.linger_timeout),
            Life::ShutdownWrite | Life::Close => None,
            Life::Open if self.pipeline_full || self.write_blocked => None,
            Life::Open => {
                if let Some(incoming) = &self.incoming {
                    Some(incoming.since + self.cfg.body_timeout)
                } else if let Some(since) = self.head_since {
                    Some(since + self.cfg.header_timeout)
                } else if self.is_idle() {
                    let limit = if self.served == 0 {
                        self.cfg.header_timeout
                    } else {
                        self.cfg.idle_timeout
                    };
                    Some(self.idle_since + limit)
                } else {
                    None
                }
            }
        }
    }

    /// The connection's timer fired. Returns `true` when this closed it for the send timeout.
    pub(crate) fn on_timer(&mut self, now: &Now) -> bool {
        let send_stalled = self
            .send_since
            .is_some_and(|since| now.at + SLACK >= since + self.cfg.send_timeout);
        if send_stalled && self.life != Life::Close {
            // The client takes nothing: nothing more can reach it, so no answer either.
            self.life = Life::Close;
            return true;
        }
        self.on_receive_timer(now);
        false
    }

    fn on_receive_timer(&mut self, now: &Now) {
        let Some(deadline) = self.receive_deadline() else {
            return;
        };
        if now.at + SLACK < deadline {
            return;
        }
        match self.life {
            Life::Lingering(_) => self.life = Life::Close,
            Life::Open if self.incoming.is_some() || self.head_since.is_some() => {
                self.fail(408, "request not received in time", now);
            }
            Life::Open => self.parsing = false, // idle too long: close quietly
            Life::ShutdownWrite | Life::Close => {}
        }
        self.update();
    }
}

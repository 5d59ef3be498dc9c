//! The handler's side of a [`Conn`]: response parts go into the in-order queue, and every
//! finished response may let parsing resume or the connection move on.

use super::{Conn, Life, Now};
use crate::http::conn::pipeline::{Fields, HeadContext, InlineFile};
use crate::http::response::EncodeError;
use crate::http::server::config::ServerConfig;
use crate::net::WriteBuf;

impl Conn {
    /// Inlined into the responder: the per-response path is one function, not a chain of
    /// calls each saving and restoring registers.
    #[inline(always)]
    pub(crate) fn send(
        &mut self,
        seq: u64,
        status: u16,
        fields: &Fields<'_>,
        body: WriteBuf,
        close: bool,
        now: &Now,
    ) -> Result<bool, EncodeError> {
        let ctx = context(&self.cfg, now);
        let sent = self.queue.send(seq, status, fields, body, ctx, close)?;
        self.after_response(now);
        Ok(sent)
    }

    #[expect(clippy::too_many_arguments, reason = "a response's inputs, passed on")]
    pub(crate) fn send_file(
        &mut self,
        seq: u64,
        status: u16,
        fields: &Fields<'_>,
        file: std::fs::File,
        len: u64,
        close: bool,
        inline: Option<InlineFile>,
        now: &Now,
    ) -> Result<bool, EncodeError> {
        let ctx = context(&self.cfg, now);
        let sent = self
            .queue
            .send_file(seq, status, fields, file, len, ctx, close, inline)?;
        self.after_response(now);
        Ok(sent)
    }

    pub(crate) fn start(
        &mut self,
        seq: u64,
        status: u16,
        fields: &Fields<'_>,
        close: bool,
        now: &Now,
    ) -> Result<bool, EncodeError> {
        let ctx = context(&self.cfg, now);
        let started = self.queue.start(seq, status, fields, ctx, close)?;
        self.after_response(now);
        Ok(started)
    }

    pub(crate) fn write(&mut self, seq: u64, data: WriteBuf) -> bool {
        self.queue.write(seq, data)
    }

    pub(crate) fn end(&mut self, seq: u64, now: &Now) -> bool {
        let ended = self.queue.end(seq);
        self.after_response(now);
        ended
    }

    pub(crate) fn abandon(&mut self, seq: u64, now: &Now) -> bool {
        let done = self.queue.abandon(seq, context(&self.cfg, now));
        self.after_response(now);
        done
    }

    /// The handler of `seq` panicked: answer it with a 500 (or cut it short), read and
    /// dispatch nothing more, and close once the earlier responses and this one are out.
    pub(crate) fn on_handler_panic(&mut self, seq: u64, now: &Now) {
        self.parsing = false;
        self.pipeline_full = false;
        self.incoming = None;
        self.head_since = None;
        self.continue_pending = false;
        self.inbuf = Vec::new();
        self.dispatches.clear();
        self.queue.fail_at(seq, context(&self.cfg, now));
        self.update();
    }

    /// Whether the socket's write queue is above its high-water mark.
    pub(crate) fn is_write_blocked(&self) -> bool {
        self.write_blocked
    }

    #[inline]
    pub(super) fn after_response(&mut self, now: &Now) {
        if self.queue.is_empty() && self.dispatches.is_empty() {
            self.idle_since = now.at;
            if self.continue_pending && self.life == Life::Open && !self.queue.is_closed() {
                self.continue_pending = false;
                self.queue.push_continue();
            }
        }
        if self.pipeline_full && self.queue.len() < self.cfg.max_pipelined && !self.output_high() {
            self.process(now);
        }
        self.update();
    }
}

pub(super) fn context<'a>(cfg: &'a ServerConfig, now: &'a Now) -> HeadContext<'a> {
    HeadContext {
        date: &now.date,
        server: cfg.server_header.as_deref().map(str::as_bytes),
    }
}

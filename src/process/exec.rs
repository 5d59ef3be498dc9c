//! [`Loop::exec_file`]: run a command to completion and collect its output (Node's
//! `child_process.execFile`), with a cap on the output and a timeout that kills.

use std::cell::RefCell;
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use super::{Command, ExitStatus, Process, Stdio};
use crate::error::Result;
use crate::event_loop::Loop;
use crate::handle::Handle;
use crate::net::ReadEvent;
use crate::process::pipe::Pipe;
use crate::timer::Timer;

/// Limits for [`Loop::exec_file`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecOptions {
    /// The most bytes kept from stdout, and from stderr (each). A child that writes more is
    /// killed with `kill_signal` and its output cut at the cap. Default 1 MiB (Node's
    /// `maxBuffer`).
    pub max_output: usize,
    /// Kill the child with `kill_signal` if it has not exited after this long. Default: none.
    pub timeout: Option<Duration>,
    /// The signal for the two kills above. Default `SIGTERM`.
    pub kill_signal: i32,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            max_output: 1024 * 1024,
            timeout: None,
            kill_signal: libc::SIGTERM,
        }
    }
}

/// Why [`Loop::exec_file`] killed the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecKill {
    /// It outlived [`ExecOptions::timeout`].
    Timeout,
    /// It wrote more than [`ExecOptions::max_output`].
    MaxOutput,
}

/// What [`Loop::exec_file`] collected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// How the child ended.
    pub status: ExitStatus,
    /// Its stdout (at most `max_output` bytes).
    pub stdout: Vec<u8>,
    /// Its stderr (at most `max_output` bytes).
    pub stderr: Vec<u8>,
    /// Set if the loop killed it, and why.
    pub killed: Option<ExecKill>,
}

type DoneCb = Box<dyn FnOnce(&mut Loop, Result<Output>)>;

struct ExecState {
    opts: ExecOptions,
    process: Option<Process>,
    out: [Vec<u8>; 2],
    /// Stdout / stderr still open.
    open: [Option<Pipe>; 2],
    status: Option<ExitStatus>,
    killed: Option<ExecKill>,
    timer: Option<Timer>,
    cb: Option<DoneCb>,
}

impl Loop {
    /// Runs `cmd` to completion: stdout and stderr are collected (stdin is `/dev/null` unless
    /// the command says otherwise), and `cb` runs once the child has exited *and* both streams
    /// reached EOF — whichever comes last — with the [`Output`]. A spawn error is returned here
    /// and `cb` is dropped uncalled. The child is killed (and the output marked
    /// [`Output::killed`]) when it outlives [`ExecOptions::timeout`] or writes more than
    /// [`ExecOptions::max_output`].
    #[track_caller]
    pub fn exec_file(
        &mut self,
        cmd: &Command,
        opts: ExecOptions,
        cb: impl FnOnce(&mut Self, Result<Output>) + 'static,
    ) -> Result<Process> {
        let site = Location::caller();
        let mut cmd = cmd.clone();
        cmd.stdout(Stdio::Pipe).stderr(Stdio::Pipe);
        if cmd.stdio[0] == Stdio::Inherit {
            cmd.stdin(Stdio::Ignore);
        }
        let state = Rc::new(RefCell::new(ExecState {
            opts,
            process: None,
            out: [Vec::new(), Vec::new()],
            open: [None, None],
            status: None,
            killed: None,
            timer: None,
            cb: Some(Box::new(cb)),
        }));
        let on_exit = {
            let state = Rc::clone(&state);
            move |lp: &mut Self, _p: Process, status: ExitStatus| {
                state.borrow_mut().status = Some(status);
                finish_if_done(lp, &state);
            }
        };
        let child = self.spawn(&cmd, on_exit)?;
        let pipes = [child.stdout(), child.stderr()];
        {
            let mut st = state.borrow_mut();
            st.process = Some(child.process);
            st.open = pipes;
        }
        for (i, pipe) in pipes.into_iter().enumerate() {
            let Some(pipe) = pipe else { continue };
            let state = Rc::clone(&state);
            let started = pipe.read_start(self, move |lp, pipe, ev| match ev {
                ReadEvent::Data(bytes) => {
                    let over = {
                        let mut st = state.borrow_mut();
                        let cap = st.opts.max_output;
                        let room = cap.saturating_sub(st.out[i].len());
                        st.out[i].extend_from_slice(&bytes[..room.min(bytes.len())]);
                        bytes.len() > room
                    };
                    if over {
                        kill(lp, &state, ExecKill::MaxOutput);
                        stream_ended(lp, &state, i, pipe);
                    }
                }
                ReadEvent::Eof | ReadEvent::Error(_) => stream_ended(lp, &state, i, pipe),
            });
            if let Err(e) = started {
                let _ = child.process.kill(self, libc::SIGKILL);
                return Err(e);
            }
        }
        if let Some(after) = opts.timeout {
            let state2 = Rc::clone(&state);
            let timer = self.start_timer(
                after,
                false,
                Box::new(move |lp, _t| kill(lp, &state2, ExecKill::Timeout)),
                site,
            );
            state.borrow_mut().timer = Some(timer);
        }
        Ok(child.process)
    }
}

fn kill(lp: &mut Loop, state: &Rc<RefCell<ExecState>>, why: ExecKill) {
    let (process, sig) = {
        let mut st = state.borrow_mut();
        if st.status.is_some() || st.killed.is_some() {
            return;
        }
        st.killed = Some(why);
        (st.process, st.opts.kill_signal)
    };
    if let Some(p) = process {
        let _ = p.kill(lp, sig);
    }
}

fn stream_ended(lp: &mut Loop, state: &Rc<RefCell<ExecState>>, i: usize, pipe: Pipe) {
    let was_open = state.borrow_mut().open[i].take().is_some();
    if was_open {
        let _ = pipe.close(lp, |_| {});
    }
    finish_if_done(lp, state);
}

fn finish_if_done(lp: &mut Loop, state: &Rc<RefCell<ExecState>>) {
    let (cb, output, process, timer) = {
        let mut st = state.borrow_mut();
        let Some(status) = st.status else { return };
        if st.open.iter().any(Option::is_some) {
            return;
        }
        let Some(cb) = st.cb.take() else { return };
        let output = Output {
            status,
            stdout: std::mem::take(&mut st.out[0]),
            stderr: std::mem::take(&mut st.out[1]),
            killed: st.killed,
        };
        (cb, output, st.process.take(), st.timer.take())
    };
    if let Some(t) = timer {
        t.clear(lp);
    }
    if let Some(p) = process {
        let _ = p.close(lp, |_| {});
    }
    cb(lp, Ok(output));
}

//! Starting and reaping child processes: `fork` + `execve` with the exec error reported through
//! a close-on-exec pipe (libuv's method), `pidfd_open` for race-free reaping and signalling,
//! `waitpid` of one pid at a time (never `-1`, which would steal other code's children), and the
//! small fd helpers pipes need.
//!
//! Between `fork` and `execve` the child runs only async-signal-safe calls on memory prepared
//! before the fork (no allocation, no locks): another thread may have held the allocator's lock
//! at the moment of the fork.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::ptr;

mod fd;
mod wait;

pub(crate) use fd::*;
pub(crate) use wait::*;

/// What a child's fd `n` becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChildFd {
    /// Left as the parent has it (only meaningful for fds the parent has open without
    /// close-on-exec, i.e. 0, 1 and 2).
    Inherit,
    /// A copy of this parent fd (which stays open in the parent until the caller closes it).
    From(RawFd),
    /// Closed in the child.
    Closed,
}

/// Where in the child a spawn failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Setting up the child's descriptors.
    Stdio,
    /// `setsid`.
    Setsid,
    /// `setgid`.
    Setgid,
    /// `setuid`.
    Setuid,
    /// `chdir`.
    Chdir,
    /// `execve`.
    Exec,
}

impl Stage {
    fn code(self) -> i32 {
        self as i32
    }

    fn from_code(code: i32) -> Self {
        match code {
            0 => Self::Stdio,
            1 => Self::Setsid,
            2 => Self::Setgid,
            3 => Self::Setuid,
            4 => Self::Chdir,
            _ => Self::Exec,
        }
    }
}

/// Everything the child needs, prepared (allocated) before the fork.
#[derive(Debug)]
pub(crate) struct ExecPlan {
    /// Paths to try `execve` on, in order (the `PATH` search done in the parent).
    pub(crate) candidates: Vec<CString>,
    pub(crate) argv: Vec<CString>,
    pub(crate) envp: Vec<CString>,
    pub(crate) cwd: Option<CString>,
    /// Index `n` says what the child's fd `n` becomes.
    pub(crate) stdio: Vec<ChildFd>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) setsid: bool,
}

/// `fork` + `execve`. Returns the child's pid once it has exec'd, or the stage and OS error of
/// the first step that failed in the child (the failed child is reaped before returning).
pub(crate) fn spawn(plan: &ExecPlan) -> Result<libc::pid_t, (Stage, io::Error)> {
    let io_err = |e| (Stage::Stdio, e);
    // Null-terminated pointer arrays, built before the fork.
    let argv: Vec<*const libc::c_char> = plan
        .argv
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = plan
        .envp
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect();
    let candidates: Vec<*const libc::c_char> = plan.candidates.iter().map(|s| s.as_ptr()).collect();
    let cwd = plan.cwd.as_ref().map_or(ptr::null(), |c| c.as_ptr());
    let devnull = open_devnull().map_err(io_err)?;
    // Scratch space the child may use for moving fds (no allocation after the fork).
    let mut moved: Vec<RawFd> = plan
        .stdio
        .iter()
        .map(|c| match c {
            ChildFd::From(fd) => *fd,
            _ => -1,
        })
        .collect();
    let (err_read, err_write) = pipe_cloexec().map_err(io_err)?;

    // Block every signal across the fork: the child must not run the parent's handlers (a
    // signal-hook handler would write into the parent's self-pipe) before it resets them.
    let mut all: libc::sigset_t = empty_sigset();
    let mut old: libc::sigset_t = empty_sigset();
    // SAFETY: `all` is a valid sigset_t on the stack; sigfillset only writes it.
    unsafe { libc::sigfillset(&mut all) };
    // SAFETY: both sets are valid for the call; pthread_sigmask only reads `all`, writes `old`.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) };

    let ctx = ChildCtx {
        candidates: &candidates,
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd,
        stdio: &plan.stdio,
        moved: &mut moved,
        devnull: devnull.as_raw_fd(),
        err_fd: err_write.as_raw_fd(),
        uid: plan.uid,
        gid: plan.gid,
        setsid: plan.setsid,
    };
    // Without credentials to change, the child shares our memory until it execs (what glibc's
    // posix_spawn does): no page tables to copy, so a spawn costs the same whatever the
    // parent's size. glibc's setuid/setgid must signal every thread of a process that shares
    // memory, so those children are forked instead.
    let pid = if plan.uid.is_none() && plan.gid.is_none() {
        clone_vfork(ctx)
    } else {
        // SAFETY: fork has no memory preconditions. In the child only `child_main` runs, which
        // calls async-signal-safe functions on memory prepared above and never returns.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            child_main(ctx);
        }
        pid
    };
    let fork_error = io::Error::last_os_error();
    // SAFETY: `old` is the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut()) };
    drop(err_write);
    drop(devnull);
    if pid < 0 {
        return Err((Stage::Stdio, fork_error));
    }
    // The pipe reaches EOF when exec succeeds (close-on-exec) or the child exits.
    let mut report = [0u8; 8];
    let mut got = 0;
    while got < report.len() {
        // SAFETY: the pointer and length describe the unread tail of `report`.
        let n = unsafe {
            libc::read(
                err_read.as_raw_fd(),
                report[got..].as_mut_ptr().cast(),
                report.len() - got,
            )
        };
        match n {
            0 => break,
            n if n > 0 => got += n as usize,
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    if got < report.len() {
        return Ok(pid);
    }
    // The child failed before exec and is exiting: reap it now, so no zombie is left.
    let _ = wait_blocking(pid);
    let stage = i32::from_ne_bytes([report[0], report[1], report[2], report[3]]);
    let errno = i32::from_ne_bytes([report[4], report[5], report[6], report[7]]);
    Err((Stage::from_code(stage), io::Error::from_raw_os_error(errno)))
}

/// The child's stack for [`clone_vfork`]: `child_main` and `execve` need a few KiB.
const CHILD_STACK: usize = 64 * 1024;

/// `clone(CLONE_VM | CLONE_VFORK)`: the child runs `child_main` on its own stack in our memory
/// while this thread waits until it has exec'd or exited. Returns the pid, or -1 with `errno`.
fn clone_vfork(mut ctx: ChildCtx<'_>) -> libc::pid_t {
    extern "C" fn entry(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the `ChildCtx` below, alive and untouched by the parent, which is
        // suspended until this child execs or exits.
        let ctx = unsafe { std::ptr::read(arg.cast::<ChildCtx<'_>>()) };
        child_main(ctx)
    }
    let mut stack = vec![0u8; CHILD_STACK];
    // The stack grows down on every Linux target: pass its 16-byte-aligned top.
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK) & !15;
    let arg = (&raw mut ctx).cast::<libc::c_void>();
    // SAFETY: `entry` never returns into the parent's frames (it execs or `_exit`s); its stack
    // is `stack`, which outlives the call; with CLONE_VFORK this thread is suspended until the
    // child has exec'd or exited, so nothing the child reads or writes changes under it.
    // Signals are blocked (by the caller) until the child has reset their handlers.
    let pid = unsafe {
        libc::clone(
            entry,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            arg,
        )
    };
    // The child's `ptr::read` copy of `ctx` holds only borrows and integers: nothing is
    // dropped twice. The stack is freed only now, after the child stopped using it.
    drop(stack);
    pid
}

fn empty_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data for which all-zero is a valid (if unspecified) value; it
    // is initialized properly by sigemptyset/sigfillset before any use that reads it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    set
}

struct ChildCtx<'a> {
    candidates: &'a [*const libc::c_char],
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    stdio: &'a [ChildFd],
    moved: &'a mut [RawFd],
    devnull: RawFd,
    err_fd: RawFd,
    uid: Option<u32>,
    gid: Option<u32>,
    setsid: bool,
}

/// The child between fork and exec: async-signal-safe calls only, no allocation, no return.
fn child_main(mut ctx: ChildCtx<'_>) -> ! {
    let n = ctx.stdio.len() as RawFd;
    // SAFETY: every call below is an async-signal-safe libc function called with plain
    // integers or pointers to memory prepared before the fork, which stays valid in the
    // child's copy of the address space.
    unsafe {
        if ctx.setsid && libc::setsid() == -1 {
            fail(ctx.err_fd, Stage::Setsid);
        }
        // The error pipe must not be overwritten by a dup2 below.
        if ctx.err_fd < n {
            let moved = libc::fcntl(ctx.err_fd, libc::F_DUPFD_CLOEXEC, n);
            if moved == -1 {
                libc::_exit(127);
            }
            ctx.err_fd = moved;
        }
        if ctx.devnull < n {
            let moved = libc::fcntl(ctx.devnull, libc::F_DUPFD_CLOEXEC, n);
            if moved == -1 {
                fail(ctx.err_fd, Stage::Stdio);
            }
            ctx.devnull = moved;
        }
        // Sources that sit below `n` could be overwritten by an earlier dup2: copy them up.
        for target in 0..ctx.moved.len() {
            let src = ctx.moved[target];
            if src >= 0 && src < n && src != target as RawFd {
                let up = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, n);
                if up == -1 {
                    fail(ctx.err_fd, Stage::Stdio);
                }
                ctx.moved[target] = up;
            }
        }
        for (target, how) in ctx.stdio.iter().enumerate() {
            let target = target as RawFd;
            let src = match how {
                ChildFd::Inherit => continue,
                ChildFd::Closed if target > 2 => {
                    libc::close(target);
                    continue;
                }
                // A closed 0, 1 or 2 would be reused by the next open: /dev/null instead.
                ChildFd::Closed => ctx.devnull,
                ChildFd::From(_) => ctx.moved[target as usize],
            };
            if src == target {
                // Same number: it only needs to survive exec.
                let flags = libc::fcntl(target, libc::F_GETFD);
                if flags == -1
                    || libc::fcntl(target, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == -1
                {
                    fail(ctx.err_fd, Stage::Stdio);
                }
            } else if libc::dup2(src, target) == -1 {
                fail(ctx.err_fd, Stage::Stdio);
            }
            if target <= 2 {
                // Children expect blocking stdio.
                let fl = libc::fcntl(target, libc::F_GETFL);
                if fl != -1 && fl & libc::O_NONBLOCK != 0 {
                    libc::fcntl(target, libc::F_SETFL, fl & !libc::O_NONBLOCK);
                }
            }
        }
        // Default dispositions (an ignored SIGPIPE, as Rust programs have, must not leak into
        // the child), then an empty mask.
        for sig in 1..65 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, ptr::null_mut());
        if ctx.uid.is_some() || ctx.gid.is_some() {
            // Drop supplementary groups (fails harmlessly without privilege, as in libuv).
            libc::setgroups(0, ptr::null());
        }
        if let Some(gid) = ctx.gid
            && libc::setgid(gid) == -1
        {
            fail(ctx.err_fd, Stage::Setgid);
        }
        if let Some(uid) = ctx.uid
            && libc::setuid(uid) == -1
        {
            fail(ctx.err_fd, Stage::Setuid);
        }
        if !ctx.cwd.is_null() && libc::chdir(ctx.cwd) == -1 {
            fail(ctx.err_fd, Stage::Chdir);
        }
        // execvp's rule: EACCES from any candidate wins over a later ENOENT.
        let mut saw_eacces = false;
        let mut last = libc::ENOENT;
        for &path in ctx.candidates {
            libc::execve(path, ctx.argv, ctx.envp);
            last = errno();
            if last == libc::EACCES {
                saw_eacces = true;
            }
            if !matches!(
                last,
                libc::ENOENT | libc::ENOTDIR | libc::EACCES | libc::ELOOP | libc::ENAMETOOLONG
            ) {
                break;
            }
        }
        if saw_eacces && last != libc::ENOEXEC && matches!(last, libc::ENOENT | libc::ENOTDIR) {
            last = libc::EACCES;
        }
        write_report(ctx.err_fd, Stage::Exec, last);
        libc::_exit(127)
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Reports the failed stage and errno to the parent, then exits.
fn fail(err_fd: RawFd, stage: Stage) -> ! {
    write_report(err_fd, stage, errno());
    // SAFETY: _exit is async-signal-safe and ends the child without running atexit handlers
    // or flushing stdio buffers copied from the parent.
    unsafe { libc::_exit(127) }
}

fn write_report(err_fd: RawFd, stage: Stage, errno: i32) {
    let mut report = [0u8; 8];
    report[..4].copy_from_slice(&stage.code().to_ne_bytes());
    report[4..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: `report` is valid for 8 bytes; 8 bytes into an empty pipe are written atomically.
    unsafe { libc::write(err_fd, report.as_ptr().cast(), report.len()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(program: &str, args: &[&str]) -> ExecPlan {
        ExecPlan {
            candidates: vec![CString::new(program).unwrap()],
            argv: args.iter().map(|a| CString::new(*a).unwrap()).collect(),
            envp: Vec::new(),
            cwd: None,
            stdio: vec![ChildFd::Closed, ChildFd::Closed, ChildFd::Closed],
            uid: None,
            gid: None,
            setsid: false,
        }
    }

    #[test]
    fn exec_failure_comes_back_with_its_stage_and_errno() {
        let err = spawn(&plan("/no/such/program", &["x"])).expect_err("no such program");
        assert_eq!(err.0, Stage::Exec);
        assert_eq!(err.1.raw_os_error(), Some(libc::ENOENT));
        let mut p = plan("/bin/true", &["true"]);
        p.cwd = Some(CString::new("/no/such/dir").unwrap());
        let err = spawn(&p).expect_err("no such cwd");
        assert_eq!(err.0, Stage::Chdir);
    }

    #[test]
    fn a_spawned_child_is_reaped_with_its_code() {
        let pid = spawn(&plan("/bin/sh", &["sh", "-c", "exit 7"])).expect("spawn sh");
        assert_eq!(wait_blocking(pid).unwrap(), Some(Ended::Code(7)));
    }
}

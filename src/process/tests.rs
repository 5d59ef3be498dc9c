//! Unit tests of the process handle.

use std::cell::RefCell;
use std::rc::Rc;

use super::*;
use crate::handle::Handle;

/// Where `pidfd_open` fails after the fork, the loop installs its SIGCHLD handler then, and
/// looks once in the pending phase for a child that exited before the handler existed.
#[test]
fn without_pidfds_the_fallback_is_installed_after_the_fork_and_misses_no_exit() {
    NO_PIDFD.with(|f| f.set(true));
    let mut lp = Loop::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    for (program, args) in [
        ("true", vec![]),
        ("false", vec![]),
        ("sh", vec!["-c", "kill -9 $$"]),
    ] {
        let s = Rc::clone(&seen);
        let mut cmd = Command::new(program);
        cmd.args(args);
        lp.spawn(&cmd, move |lp, p, status| {
            s.borrow_mut().push(status);
            p.close(lp, |_| {}).unwrap();
        })
        .unwrap();
    }
    // One more, killed by us through kill(2) (no pidfd to signal through).
    let s = Rc::clone(&seen);
    let child = lp
        .spawn(Command::new("sleep").arg("30"), move |lp, p, status| {
            s.borrow_mut().push(status);
            p.close(lp, |_| {}).unwrap();
        })
        .unwrap();
    child.process.kill(&mut lp, libc::SIGTERM).unwrap();
    lp.run().unwrap();
    NO_PIDFD.with(|f| f.set(false));
    let mut seen = seen.borrow().clone();
    seen.sort_by_key(|s| (s.code(), s.signal()));
    assert_eq!(
        seen,
        [
            ExitStatus::from_signal(libc::SIGKILL),
            ExitStatus::from_signal(libc::SIGTERM),
            ExitStatus::from_code(0),
            ExitStatus::from_code(1),
        ]
    );
    assert!(lp.active_handles().is_empty());
}

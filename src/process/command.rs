//! [`Command`]: what to spawn, and [`SpawnError`]: why it could not be.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::handle::{Handle, HandleId};
use crate::sys::process::{ChildFd, ExecPlan, Stage};

/// What one of a child's file descriptors becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stdio {
    /// The child shares the parent's fd of the same number (the default for 0, 1 and 2).
    Inherit,
    /// `/dev/null` for fds 0–2; closed for higher fds.
    Ignore,
    /// A new pipe: the parent's end comes back as a [`Pipe`](crate::process::Pipe) in
    /// [`Child::pipes`](super::Child). Fd 0 is a pipe the parent writes, fds 1 and 2 pipes the
    /// parent reads, higher fds a bidirectional socket pair (as libuv).
    Pipe,
    /// A copy of this parent fd (it stays open in the parent; close it yourself).
    Fd(RawFd),
    /// A copy of the fd behind an open stream handle of this loop ([`crate::process::Pipe`],
    /// [`crate::net::UnixStream`], [`crate::net::TcpStream`]...).
    Stream(HandleId),
}

impl Stdio {
    /// [`Stdio::Stream`] for a typed stream handle.
    pub fn stream(handle: impl Handle) -> Self {
        Self::Stream(handle.id())
    }
}

/// A program to spawn with [`Loop::spawn`](crate::Loop::spawn): its arguments, environment,
/// working directory, stdio, credentials and session. A builder, reusable for many spawns.
///
/// ```
/// use evloop::process::{Command, Stdio};
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "echo $GREETING"])
///     .env("GREETING", "hello")
///     .stdout(Stdio::Pipe)
///     .stdin(Stdio::Ignore);
/// ```
#[derive(Clone, Debug)]
pub struct Command {
    pub(crate) program: OsString,
    args: Vec<OsString>,
    env_clear: bool,
    env: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    pub(crate) stdio: Vec<Stdio>,
    uid: Option<u32>,
    gid: Option<u32>,
    pub(crate) detached: bool,
    pub(crate) use_pidfd: bool,
}

impl Command {
    /// A command running `program`: a path if it contains a `/`, else a name looked up in the
    /// child's `PATH` (the parent's if the environment leaves it alone; `/usr/bin:/bin` if
    /// there is none). `argv[0]` is `program`. Stdio is inherited, the environment too.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env_clear: false,
            env: Vec::new(),
            cwd: None,
            stdio: vec![Stdio::Inherit; 3],
            uid: None,
            gid: None,
            detached: false,
            use_pidfd: true,
        }
    }

    /// The program as given.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// Appends one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets one environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes one variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts the child's environment empty instead of inheriting the parent's (variables set
    /// with [`env`](Self::env) before or after still apply).
    pub fn env_clear(&mut self) -> &mut Self {
        self.env_clear = true;
        self
    }

    /// The child's working directory (a relative program path is found from there).
    pub fn cwd(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Sets what the child's fd `fd` becomes; fds between 3 and `fd` not set are closed.
    pub fn stdio(&mut self, fd: usize, how: Stdio) -> &mut Self {
        if self.stdio.len() <= fd {
            self.stdio.resize(fd + 1, Stdio::Ignore);
        }
        self.stdio[fd] = how;
        self
    }

    /// Shorthand for `stdio(0, how)`.
    pub fn stdin(&mut self, how: Stdio) -> &mut Self {
        self.stdio(0, how)
    }

    /// Shorthand for `stdio(1, how)`.
    pub fn stdout(&mut self, how: Stdio) -> &mut Self {
        self.stdio(1, how)
    }

    /// Shorthand for `stdio(2, how)`.
    pub fn stderr(&mut self, how: Stdio) -> &mut Self {
        self.stdio(2, how)
    }

    /// Runs the child as user `uid` (needs privilege; supplementary groups are dropped).
    pub fn uid(&mut self, uid: u32) -> &mut Self {
        self.uid = Some(uid);
        self
    }

    /// Runs the child as group `gid` (needs privilege; supplementary groups are dropped).
    pub fn gid(&mut self, gid: u32) -> &mut Self {
        self.gid = Some(gid);
        self
    }

    /// Starts the child in a new session and process group (`setsid`), whose id is the child's
    /// pid: a terminal's Ctrl-C does not reach it, and
    /// [`Process::kill_group`](super::Process::kill_group) signals it with all its descendants.
    pub fn detached(&mut self, detached: bool) -> &mut Self {
        self.detached = detached;
        self
    }

    /// Whether to watch the child through a pidfd (Linux ≥ 5.3; the default). `false` forces
    /// the portable path the loop falls back to where `pidfd_open` fails: a `SIGCHLD` handler
    /// after which the loop calls `waitpid(pid, WNOHANG)` for its own children only (never
    /// `waitpid(-1)`, which would reap other code's children).
    pub fn use_pidfd(&mut self, on: bool) -> &mut Self {
        self.use_pidfd = on;
        self
    }

    /// The exec plan, with stdio still to be resolved by the caller.
    pub(crate) fn plan(&self, stdio: Vec<ChildFd>) -> io::Result<ExecPlan> {
        let invalid = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{what} contains an interior NUL byte"),
            )
        };
        let cstr =
            |s: &OsStr, what: &str| CString::new(s.as_bytes().to_vec()).map_err(|_| invalid(what));
        if self.program.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the program name is empty",
            ));
        }
        let mut argv = vec![cstr(&self.program, "the program name")?];
        for a in &self.args {
            argv.push(cstr(a, "an argument")?);
        }
        let mut env: Vec<(OsString, OsString)> = if self.env_clear {
            Vec::new()
        } else {
            std::env::vars_os().collect()
        };
        for (k, v) in &self.env {
            env.retain(|(key, _)| key != k);
            if let Some(v) = v {
                env.push((k.clone(), v.clone()));
            }
        }
        let mut envp = Vec::with_capacity(env.len());
        for (k, v) in &env {
            if k.as_bytes().contains(&b'=') || k.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid environment variable name {k:?}"),
                ));
            }
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            envp.push(CString::new(kv).map_err(|_| invalid("an environment variable"))?);
        }
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map_or_else(|| OsString::from("/usr/bin:/bin"), |(_, v)| v.clone());
        let candidates = candidates(&self.program, &path)
            .into_iter()
            .map(|c| cstr(&c, "the program path"))
            .collect::<io::Result<_>>()?;
        let cwd = match &self.cwd {
            Some(dir) => Some(cstr(dir.as_os_str(), "the working directory")?),
            None => None,
        };
        Ok(ExecPlan {
            candidates,
            argv,
            envp,
            cwd,
            stdio,
            uid: self.uid,
            gid: self.gid,
            setsid: self.detached,
        })
    }

    /// The error for a failed spawn of this command.
    pub(crate) fn error(&self, stage: Stage, error: io::Error) -> io::Error {
        let kind = error.kind();
        io::Error::new(
            kind,
            SpawnError {
                program: self.program.clone(),
                stage,
                cwd: self.cwd.clone(),
                error,
            },
        )
    }
}

/// The paths `execve` is tried on: the program itself if it names a path, else each `PATH`
/// entry joined with it (an empty entry means the working directory), as `execvp` does.
fn candidates(program: &OsStr, path: &OsStr) -> Vec<OsString> {
    if program.as_bytes().contains(&b'/') {
        return vec![program.to_owned()];
    }
    path.as_bytes()
        .split(|b| *b == b':')
        .map(|dir| {
            let mut p = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            p.push(b'/');
            p.extend_from_slice(program.as_bytes());
            OsString::from_vec(p)
        })
        .collect()
}

/// The payload of a failed spawn's `io::Error`: which program, which step in the child failed,
/// and the OS error. Its text names the program: `spawn nosuch: not found (No such file or
/// directory, os error 2)`. The error's kind is the OS error's (`NotFound`,
/// `PermissionDenied`...).
#[derive(Debug)]
pub struct SpawnError {
    program: OsString,
    stage: Stage,
    cwd: Option<PathBuf>,
    error: io::Error,
}

impl SpawnError {
    /// The program as given to [`Command::new`].
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The OS error number.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.error.raw_os_error()
    }

    /// The step that failed: `"exec"`, `"chdir"`, `"setuid"`, `"setgid"`, `"setsid"` or
    /// `"stdio"` (setting up descriptors, or `fork` itself).
    pub fn stage(&self) -> &'static str {
        match self.stage {
            Stage::Stdio => "stdio",
            Stage::Setsid => "setsid",
            Stage::Setgid => "setgid",
            Stage::Setuid => "setuid",
            Stage::Chdir => "chdir",
            Stage::Exec => "exec",
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let program = self.program.to_string_lossy();
        match (self.stage, self.error.raw_os_error()) {
            (Stage::Exec, Some(libc::ENOENT)) => {
                write!(f, "spawn {program}: not found ({})", self.error)
            }
            (Stage::Exec, _) => write!(f, "spawn {program}: {}", self.error),
            (Stage::Chdir, _) => write!(
                f,
                "spawn {program}: chdir '{}': {}",
                self.cwd.as_deref().unwrap_or(Path::new("")).display(),
                self.error
            ),
            (_, _) => write!(f, "spawn {program}: {}: {}", self.stage(), self.error),
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_searched_in_path_and_a_path_is_not() {
        let c = candidates(OsStr::new("ls"), OsStr::new("/a:/b::/c"));
        assert_eq!(c, ["/a/ls", "/b/ls", "./ls", "/c/ls"]);
        assert_eq!(candidates(OsStr::new("./x"), OsStr::new("/a")), ["./x"]);
    }

    #[test]
    fn bad_input_is_invalid_input_naming_what() {
        let err = Command::new("a\0b").plan(Vec::new()).expect_err("NUL");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("program name"), "{err}");
        let err = Command::new("").plan(Vec::new()).expect_err("empty");
        assert!(err.to_string().contains("empty"), "{err}");
        let err = Command::new("x")
            .env("A=B", "c")
            .plan(Vec::new())
            .expect_err("bad name");
        assert!(err.to_string().contains("A=B"), "{err}");
    }

    #[test]
    fn env_sets_and_removes_in_order() {
        let plan = Command::new("x")
            .env_clear()
            .env("A", "1")
            .env("B", "2")
            .env_remove("A")
            .env("B", "3")
            .plan(Vec::new())
            .unwrap();
        assert_eq!(plan.envp, [CString::new("B=3").unwrap()]);
        // No PATH in the child's environment: the default one.
        assert_eq!(plan.candidates[0], CString::new("/usr/bin/x").unwrap());
    }
}

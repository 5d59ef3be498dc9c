//! How to open a file and what to check for access: plain `Copy` values that travel to a worker.

use std::ops::BitOr;

/// How [`fs::open`](crate::fs::open) opens a file: std's `OpenOptions` as a plain `Copy` value
/// that can travel to a worker. Start from [`OpenFlags::READ`], [`OpenFlags::WRITE`],
/// [`OpenFlags::APPEND`] or [`OpenFlags::READ_WRITE`] (Node's `r`, `w`, `a`, `r+`) and adjust
/// with the chaining methods or the fields. Descriptors are always opened close-on-exec, as std
/// does.
///
/// **Windows** has no Unix permission bits and no `O_*` flags: `mode` and `custom_flags` (and
/// their methods) do not exist there. Files are opened as libuv opens them, shared for reading,
/// writing and deleting (so a file open here can still be renamed or unlinked, as on Unix), and
/// with backup semantics so that a directory can be opened for [`File::fstat`](crate::fs::File::fstat).
///
/// ```
/// use evloop::fs::OpenFlags;
/// // Node's `wx`: create for writing, failing if the file exists.
/// let flags = OpenFlags::WRITE.create_new(true);
/// assert!(flags.write && flags.create_new);
/// # #[cfg(unix)]
/// let flags = flags.mode(0o600); // Unix only
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFlags {
    /// Open for reading.
    pub read: bool,
    /// Open for writing.
    pub write: bool,
    /// Every write goes to the end (`O_APPEND`); implies writing.
    pub append: bool,
    /// Cut an existing file to length 0 (`O_TRUNC`); needs `write`.
    pub truncate: bool,
    /// Create the file if missing (`O_CREAT`).
    pub create: bool,
    /// Create the file, failing if it exists (`O_CREAT | O_EXCL`); wins over `create`/`truncate`.
    pub create_new: bool,
    /// Permission bits for a created file, before the umask (Unix only).
    #[cfg(unix)]
    pub mode: u32,
    /// Extra `O_*` flags such as `O_NOFOLLOW` or `O_SYNC`; access-mode bits are ignored (Unix
    /// only).
    #[cfg(unix)]
    pub custom_flags: i32,
}

impl OpenFlags {
    /// Read an existing file (Node's `r`).
    pub const READ: Self = Self {
        read: true,
        write: false,
        append: false,
        truncate: false,
        create: false,
        create_new: false,
        #[cfg(unix)]
        mode: 0o666,
        #[cfg(unix)]
        custom_flags: 0,
    };
    /// Write from the start, creating or truncating (Node's `w`).
    pub const WRITE: Self = Self {
        read: false,
        write: true,
        truncate: true,
        create: true,
        ..Self::READ
    };
    /// Append, creating if missing (Node's `a`).
    pub const APPEND: Self = Self {
        read: false,
        append: true,
        create: true,
        ..Self::READ
    };

    /// Read and write an existing file, from the start (Node's `r+`).
    pub const READ_WRITE: Self = Self {
        write: true,
        ..Self::READ
    };

    /// These flags with a different creation mode (Unix only).
    #[cfg(unix)]
    pub const fn with_mode(self, mode: u32) -> Self {
        Self { mode, ..self }
    }

    /// These flags with a different creation mode (an alias of [`with_mode`](Self::with_mode);
    /// Unix only).
    #[cfg(unix)]
    pub const fn mode(self, mode: u32) -> Self {
        self.with_mode(mode)
    }

    /// These flags with reading on or off.
    pub const fn read(self, read: bool) -> Self {
        Self { read, ..self }
    }

    /// These flags with writing on or off.
    pub const fn write(self, write: bool) -> Self {
        Self { write, ..self }
    }

    /// These flags with appending on or off.
    pub const fn append(self, append: bool) -> Self {
        Self { append, ..self }
    }

    /// These flags with truncating on or off.
    pub const fn truncate(self, truncate: bool) -> Self {
        Self { truncate, ..self }
    }

    /// These flags with creating on or off.
    pub const fn create(self, create: bool) -> Self {
        Self { create, ..self }
    }

    /// These flags with exclusive creation on or off.
    pub const fn create_new(self, create_new: bool) -> Self {
        Self { create_new, ..self }
    }

    /// These flags with extra `O_*` flags (replacing earlier extra flags; Unix only).
    #[cfg(unix)]
    pub const fn custom_flags(self, custom_flags: i32) -> Self {
        Self {
            custom_flags,
            ..self
        }
    }
}

impl Default for OpenFlags {
    /// [`OpenFlags::READ`].
    fn default() -> Self {
        Self::READ
    }
}

/// The checks [`fs::access`](crate::fs::access) makes; combine with `|`. `EXISTS` alone only
/// checks existence.
///
/// On Windows, as libuv: every check but `WRITE` only checks that the file exists, and `WRITE`
/// fails with `PermissionDenied` for a file (not a directory) with the read-only attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AccessMode(i32);

impl AccessMode {
    /// The file exists (`F_OK`).
    pub const EXISTS: Self = Self(0);
    /// The caller may read it (`R_OK`).
    pub const READ: Self = Self(4);
    /// The caller may write it (`W_OK`).
    pub const WRITE: Self = Self(2);
    /// The caller may execute it, or search it if a directory (`X_OK`).
    pub const EXECUTE: Self = Self(1);

    /// The `access(2)` mode bits (POSIX gives these values; checked against libc's below).
    pub(crate) fn bits(self) -> i32 {
        self.0
    }
}

#[cfg(unix)]
const _: () = assert!(
    libc::F_OK == 0 && libc::R_OK == 4 && libc::W_OK == 2 && libc::X_OK == 1,
    "access(2) bits differ from POSIX's values"
);

impl BitOr for AccessMode {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

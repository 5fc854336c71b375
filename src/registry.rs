//! Where the sockets of sessions live and how a session gets its name.
//!
//! Each user has one private folder of sockets, `$XDG_RUNTIME_DIR/opmux` or
//! `/tmp/opmux-UID`, checked to be a real directory that only they can enter.
//! A session's socket is `NAME.sock` in it. Names are claimed under an
//! exclusive lock on the folder's `.lock`, so two servers starting at once
//! never take the same name; a socket left behind by a dead server (connecting
//! is refused) is removed and its name is free again. Telling live from dead
//! takes a connection, so a server sees such probes as clients that hang up
//! without a word. Serving the socket, speaking on it and removing it when
//! the session ends are left to the server and `protocol`.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, connect, getsockopt, listen,
    socket, sockopt,
};
use nix::sys::stat::{Mode, fchmod};
use nix::unistd::{geteuid, getuid};

/// The longest path a Unix socket can be bound at: `sockaddr_un` holds 108
/// bytes, one of which is the terminating NUL.
pub const SUN_PATH_MAX: usize = 107;

/// The longest session name, in characters.
pub const NAME_MAX: usize = 100;

/// The longest name [`default_name`] makes, leaving room for the `-N` that
/// [`claim`] adds when the name is taken.
const DEFAULT_NAME_MAX: usize = 64;

/// How many numbered names [`claim`] tries for a default name before giving up.
const DEFAULT_TRIES: usize = 10_000;

/// The file in the folder of sockets that claims and clean-ups lock.
const LOCK_FILE: &str = ".lock";

/// What a socket's file name ends with after the session's name.
const SOCKET_SUFFIX: &str = ".sock";

/// The user's folder of sockets, created (mode 0700) if missing and checked
/// with [`ensure_private_dir`]: `$XDG_RUNTIME_DIR/opmux` when that variable
/// holds an absolute path, else `/tmp/opmux-UID`. `$XDG_RUNTIME_DIR` itself
/// belongs to the login system: when it does not exist, that is an error.
pub fn socket_dir() -> Result<PathBuf> {
    let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let runtime_dir = runtime_dir.as_deref().filter(|dir| dir.is_absolute());
    if let Some(runtime_dir) = runtime_dir
        && !runtime_dir.is_dir()
    {
        bail!(
            "XDG_RUNTIME_DIR is {}, which is not an existing folder",
            runtime_dir.display()
        );
    }
    let dir = socket_dir_for(runtime_dir, getuid().as_raw());
    ensure_private_dir(&dir)?;
    Ok(dir)
}

/// The folder of sockets for this runtime folder and real uid. An empty or
/// relative `XDG_RUNTIME_DIR` is ignored, as the XDG specification asks.
fn socket_dir_for(runtime_dir: Option<&Path>, uid: u32) -> PathBuf {
    match runtime_dir {
        Some(dir) if dir.is_absolute() => dir.join("opmux"),
        _ => PathBuf::from(format!("/tmp/opmux-{uid}")),
    }
}

/// Creates `path` with mode 0700 if it is missing (its parent must exist),
/// then checks, without following links, that it is a directory of ours that
/// no one else may enter. Anything else is refused, naming the path and why:
/// a socket in a folder someone else controls could be swapped for theirs.
pub fn ensure_private_dir(path: &Path) -> Result<()> {
    match DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    let meta =
        fs::symlink_metadata(path).with_context(|| format!("checking {}", path.display()))?;
    check_private(path, &meta, geteuid().as_raw())
}

/// The checks of [`ensure_private_dir`] on `path`'s lstat, for user `me`.
fn check_private(path: &Path, meta: &fs::Metadata, me: u32) -> Result<()> {
    let path = path.display();
    let kind = meta.file_type();
    if kind.is_symlink() {
        bail!("{path} is a symlink; refusing to use it");
    }
    if !kind.is_dir() {
        bail!("{path} is not a directory; refusing to use it");
    }
    if meta.uid() != me {
        bail!("{path} is owned by uid {}, not you ({me})", meta.uid());
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        bail!("{path} has mode {mode:04o}; it must be 0700 (private to you)");
    }
    Ok(())
}

/// Checks a session name the user gave: it becomes a file name and is typed
/// in commands, so it must be non-empty, at most [`NAME_MAX`] characters,
/// without '/', NUL or control characters, and not hidden (a leading '.',
/// which would also allow "." and "..").
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        bail!("the session name is empty");
    }
    if name.contains('/') {
        bail!("session name {name:?} contains '/'");
    }
    if name.contains('\0') {
        bail!("session name {name:?} contains a NUL byte");
    }
    if name.chars().any(char::is_control) {
        bail!("session name {name:?} contains a control character");
    }
    if name.starts_with('.') {
        bail!("session name {name:?} starts with '.'");
    }
    let len = name.chars().count();
    if len > NAME_MAX {
        bail!("session name {name:?} is {len} characters long; at most {NAME_MAX} are allowed");
    }
    Ok(())
}

/// The name a session started in `folder` gets when none is given: the
/// folder's last component, with every character other than a letter, a
/// digit, '-' or '_' made '_', and cut to 64 characters so a `-N` still fits.
/// "opmux" when there is no last component (for "/").
pub fn default_name(folder: &Path) -> String {
    let Some(last) = folder.file_name() else {
        return "opmux".to_string();
    };
    let name: String = last
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(DEFAULT_NAME_MAX)
        .collect();
    if name.is_empty() {
        "opmux".to_string()
    } else {
        name
    }
}

/// The socket of session `name` in `dir`, refused when the name is not valid
/// ([`check_name`]) or makes a path longer than a socket can be bound at.
pub fn socket_path(dir: &Path, name: &str) -> Result<PathBuf> {
    check_name(name)?;
    let path = dir.join(format!("{name}{SOCKET_SUFFIX}"));
    let len = path.as_os_str().len();
    if len > SUN_PATH_MAX {
        bail!(
            "session name {name:?} makes the socket path {len} bytes long; \
             a Unix socket path holds at most {SUN_PATH_MAX}"
        );
    }
    Ok(path)
}

/// Whether a server listens on `socket`.
pub fn is_live(socket: &Path) -> Result<bool> {
    Ok(probe(socket)? == Found::Live)
}

/// The name of the session whose socket is `socket`, as [`socket_path`]
/// made it.
pub fn name_of(socket: &Path) -> Option<String> {
    let file = socket.file_name()?.to_str()?;
    let name = file.strip_suffix(SOCKET_SUFFIX)?;
    check_name(name).ok()?;
    Some(name.to_string())
}

/// Which name a new session asks [`claim`] for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted<'a> {
    /// This name or none: the user chose it.
    Exact(&'a str),
    /// This name, or when it is taken the first free of `NAME-2`, `NAME-3`, …
    Default(&'a str),
}

/// A name claimed by a new session: its socket is bound and listening.
#[derive(Debug)]
pub struct Claimed {
    /// The name the session got: the one wanted, or a numbered one.
    pub name: String,
    /// The socket's path, for the server to remove when the session ends.
    pub path: PathBuf,
    /// Blocking, as bound; a server on tokio sets it non-blocking before
    /// handing it over.
    pub listener: UnixListener,
}

/// Claims a session name in `dir` and binds its socket, all under the
/// folder's lock so that concurrent claims get different names: a socket
/// bound and listening answers a probe even before its server accepts. A
/// socket left by a dead server is removed and its name reused. The socket
/// is 0600 from the moment it exists, without changing the process's umask,
/// so this is safe to call while other threads create files.
pub fn claim(dir: &Path, wanted: Wanted) -> Result<Claimed> {
    let _lock = lock(dir)?;
    match wanted {
        Wanted::Exact(name) => {
            let path = socket_path(dir, name)?;
            if take_if_free(&path)? {
                return bind_private(name.to_string(), path);
            }
            bail!("session {name} already exists (attach with `opmux attach {name}`)")
        }
        Wanted::Default(base) => {
            for n in 1..=DEFAULT_TRIES {
                let name = if n == 1 {
                    base.to_string()
                } else {
                    format!("{base}-{n}")
                };
                let path = socket_path(dir, &name)?;
                if take_if_free(&path)? {
                    return bind_private(name, path);
                }
            }
            bail!(
                "sessions {base} to {base}-{DEFAULT_TRIES} all exist in {}; give a name",
                dir.display()
            )
        }
    }
}

/// The live sessions in `dir` as (name, socket), sorted by name. Sockets of
/// dead servers are removed on the way; other files are ignored.
pub fn live_sessions(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let _lock = lock(dir)?;
    let mut live = Vec::new();
    let entries = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        let Some(name) = name_of(&path) else {
            continue;
        };
        match probe(&path)? {
            Found::Live => live.push((name, path)),
            Found::Stale => remove_stale(&path)?,
            Found::Missing | Found::NotSocket => {}
        }
    }
    live.sort();
    Ok(live)
}

/// Whether the process at the other end of a Unix stream (std or tokio) runs
/// as our effective uid. The folder of sockets is private, so this is a
/// second lock on the door, and the one that holds for sockets passed in.
pub fn peer_is_us(stream: &impl AsFd) -> io::Result<bool> {
    let peer = getsockopt(stream, sockopt::PeerCredentials)?;
    Ok(peer.uid() == geteuid().as_raw())
}

/// Takes the exclusive lock on `dir/.lock`, creating the file (0600); it is
/// released when the returned value is dropped.
fn lock(dir: &Path) -> Result<Flock<fs::File>> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| io::Error::from(errno))
        .with_context(|| format!("locking {}", path.display()))
}

/// What is at a socket's path.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// Nothing: the name is free.
    Missing,
    /// A server accepts connections there (or would, once its queue drains).
    Live,
    /// A socket no one listens on: its server died.
    Stale,
    /// Something else, not ours to remove.
    NotSocket,
}

/// Whether the socket at `path` is free for a new server, removing it when
/// it is stale. Must be called under the lock.
fn take_if_free(path: &Path) -> Result<bool> {
    match probe(path)? {
        Found::Missing => Ok(true),
        Found::Live => Ok(false),
        Found::NotSocket => bail!(
            "{} is not a socket; remove it or pick another name",
            path.display()
        ),
        Found::Stale => {
            remove_stale(path)?;
            Ok(true)
        }
    }
}

/// Looks at what is at a socket's `path`.
fn probe(path: &Path) -> Result<Found> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
    };
    if !meta.file_type().is_socket() {
        return Ok(Found::NotSocket);
    }
    // Connecting without blocking: a live server whose queue of connections is
    // full (hung, or busy) answers EAGAIN at once instead of holding the lock.
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .context("creating a socket to probe a session")?;
    let addr = UnixAddr::new(path).with_context(|| format!("addressing {}", path.display()))?;
    match connect(fd.as_raw_fd(), &addr) {
        Ok(()) | Err(Errno::EAGAIN) => Ok(Found::Live),
        Err(Errno::ECONNREFUSED) => Ok(Found::Stale),
        Err(Errno::ENOENT) => Ok(Found::Missing),
        Err(e) => Err(e).with_context(|| format!("connecting to {}", path.display())),
    }
}

/// Removes a stale socket; one already gone is fine.
fn remove_stale(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing the stale socket {}", path.display())),
    }
}

/// Binds and listens at `path` with the socket 0600 from the moment it
/// exists, then checks that it is.
///
/// Linux creates a socket's file with the mode of the socket's own inode,
/// less the umask; setting that mode with `fchmod` before `bind` makes the
/// file private without touching the umask. The umask is process-wide, so
/// narrowing it around the bind would also narrow the files and folders
/// other threads create meanwhile (a folder made 0600 cannot be entered).
fn bind_private(name: String, path: PathBuf) -> Result<Claimed> {
    let context = || format!("listening on {}", path.display());
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .with_context(context)?;
    fchmod(&fd, Mode::S_IRUSR | Mode::S_IWUSR).with_context(context)?;
    let addr = UnixAddr::new(&path).with_context(context)?;
    bind(fd.as_raw_fd(), &addr).with_context(context)?;
    let listener = UnixListener::from(fd);
    // From here on the file is ours: remove it on any failure, so a refused
    // claim leaves nothing behind that looks like a session.
    let refuse = |error: anyhow::Error| {
        let _ = fs::remove_file(&path);
        Err(error)
    };
    if let Err(e) = listen(&listener, Backlog::MAXCONN) {
        return refuse(anyhow::Error::from(e).context(context()));
    }
    let mode = match fs::symlink_metadata(&path) {
        Ok(meta) => meta.mode() & 0o7777,
        Err(e) => return refuse(anyhow::Error::from(e).context(context())),
    };
    if mode != 0o600 {
        return refuse(anyhow::anyhow!(
            "{} was created with mode {mode:04o}, not 0600",
            path.display()
        ));
    }
    Ok(Claimed {
        name,
        path,
        listener,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    /// A folder of its own for one test, removed when the test ends.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("opmux-reg-{}-{label}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            DirBuilder::new().mode(0o700).create(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    /// Leaves a socket file whose server is gone: bound, then closed.
    fn leave_stale_socket(path: &Path) {
        drop(UnixListener::bind(path).unwrap());
        assert!(path.exists());
        let refused = UnixStream::connect(path).unwrap_err();
        assert_eq!(refused.raw_os_error(), Some(nix::libc::ECONNREFUSED));
    }

    fn error_of<T: std::fmt::Debug>(result: Result<T>) -> String {
        format!("{:#}", result.unwrap_err())
    }

    #[test]
    fn a_missing_folder_is_created_private() {
        let scratch = Scratch::new("create");
        let dir = scratch.0.join("opmux");
        ensure_private_dir(&dir).unwrap();
        assert!(dir.is_dir());
        assert_eq!(mode_of(&dir), 0o700);
        // And it is accepted as it is the next time.
        ensure_private_dir(&dir).unwrap();
    }

    #[test]
    fn a_folder_others_may_enter_is_refused() {
        let scratch = Scratch::new("mode");
        let dir = scratch.0.join("open");
        fs::create_dir(&dir).unwrap();
        for mode in [0o755, 0o710, 0o701, 0o720] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            let err = error_of(ensure_private_dir(&dir));
            assert_eq!(
                err,
                format!(
                    "{} has mode {mode:04o}; it must be 0700 (private to you)",
                    dir.display()
                )
            );
        }
    }

    #[test]
    fn a_symlinked_folder_is_refused() {
        let scratch = Scratch::new("symlink");
        let real = scratch.0.join("real");
        DirBuilder::new().mode(0o700).create(&real).unwrap();
        let link = scratch.0.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            error_of(ensure_private_dir(&link)),
            format!("{} is a symlink; refusing to use it", link.display())
        );
    }

    #[test]
    fn a_file_in_place_of_the_folder_is_refused() {
        let scratch = Scratch::new("file");
        let file = scratch.0.join("file");
        fs::write(&file, "").unwrap();
        assert_eq!(
            error_of(ensure_private_dir(&file)),
            format!("{} is not a directory; refusing to use it", file.display())
        );
    }

    #[test]
    fn a_folder_owned_by_someone_else_is_refused() {
        let scratch = Scratch::new("owner");
        let meta = fs::symlink_metadata(&scratch.0).unwrap();
        let someone_else = meta.uid() + 1;
        assert_eq!(
            error_of(check_private(&scratch.0, &meta, someone_else)),
            format!(
                "{} is owned by uid {}, not you ({someone_else})",
                scratch.0.display(),
                meta.uid()
            )
        );
        check_private(&scratch.0, &meta, meta.uid()).unwrap();
    }

    #[test]
    fn a_folder_whose_parent_is_missing_is_not_created() {
        let scratch = Scratch::new("parent");
        let dir = scratch.0.join("missing").join("opmux");
        let err = error_of(ensure_private_dir(&dir));
        assert!(
            err.starts_with(&format!("creating {}", dir.display())),
            "{err}"
        );
        assert!(!dir.exists());
    }

    #[test]
    fn the_runtime_folder_is_used_only_when_absolute() {
        let cases: [(Option<&str>, &str); 4] = [
            (Some("/run/user/1000"), "/run/user/1000/opmux"),
            (None, "/tmp/opmux-1000"),
            (Some(""), "/tmp/opmux-1000"),
            (Some("run/user"), "/tmp/opmux-1000"),
        ];
        for (runtime_dir, want) in cases {
            assert_eq!(
                socket_dir_for(runtime_dir.map(Path::new), 1000),
                PathBuf::from(want),
                "{runtime_dir:?}"
            );
        }
    }

    #[test]
    fn names_that_would_be_bad_file_names_are_refused() {
        let long = "x".repeat(NAME_MAX + 1);
        let cases: [(&str, Option<&str>); 10] = [
            ("web", None),
            ("web-2_x", None),
            ("café", None),
            (&long[..NAME_MAX], None),
            ("", Some("the session name is empty")),
            ("a/b", Some("session name \"a/b\" contains '/'")),
            ("a\0b", Some("session name \"a\\0b\" contains a NUL byte")),
            (
                "a\x1bb",
                Some("session name \"a\\u{1b}b\" contains a control character"),
            ),
            (".web", Some("session name \".web\" starts with '.'")),
            (
                &long,
                Some("is 101 characters long; at most 100 are allowed"),
            ),
        ];
        for (name, want) in cases {
            match (check_name(name), want) {
                (Ok(()), None) => {}
                (Err(err), Some(want)) => {
                    let err = err.to_string();
                    assert!(err.ends_with(want), "{name:?}: {err}");
                }
                (got, want) => panic!("{name:?}: got {got:?}, want {want:?}"),
            }
        }
        assert!(check_name("..").is_err());
        assert!(check_name("a\nb").is_err());
    }

    #[test]
    fn default_names_keep_letters_digits_dashes_and_underscores() {
        let cases = [
            ("/home/me/web-app", "web-app"),
            ("/home/me/my app.v2", "my_app_v2"),
            ("/srv/.hidden", "_hidden"),
            ("/srv/naïve_2", "naïve_2"),
            ("/srv/a\nb", "a_b"),
            ("/", "opmux"),
            ("", "opmux"),
            ("relative/dir", "dir"),
        ];
        for (folder, want) in cases {
            let name = default_name(Path::new(folder));
            assert_eq!(name, want, "{folder:?}");
            check_name(&name).unwrap();
        }
        let long = default_name(&Path::new("/srv").join("y".repeat(300)));
        assert_eq!(long.chars().count(), DEFAULT_NAME_MAX);
    }

    #[test]
    fn a_name_making_the_socket_path_too_long_is_refused_with_the_numbers() {
        let scratch = Scratch::new("len");
        let fits = SUN_PATH_MAX - scratch.0.as_os_str().len() - "/".len() - ".sock".len();
        let name = "n".repeat(fits);
        let path = socket_path(&scratch.0, &name).unwrap();
        assert_eq!(path.as_os_str().len(), SUN_PATH_MAX);
        claim(&scratch.0, Wanted::Exact(&name)).unwrap();

        let name = "n".repeat(fits + 23);
        let err = error_of(claim(&scratch.0, Wanted::Exact(&name)));
        assert_eq!(
            err,
            format!(
                "session name {name:?} makes the socket path {} bytes long; \
                 a Unix socket path holds at most 107",
                SUN_PATH_MAX + 23
            )
        );
    }

    #[test]
    fn a_free_name_is_claimed_with_a_private_listening_socket() {
        let scratch = Scratch::new("free");
        let claimed = claim(&scratch.0, Wanted::Exact("web")).unwrap();
        assert_eq!(claimed.name, "web");
        assert_eq!(claimed.path, scratch.0.join("web.sock"));
        assert!(
            fs::symlink_metadata(&claimed.path)
                .unwrap()
                .file_type()
                .is_socket()
        );
        assert_eq!(mode_of(&claimed.path), 0o600);
        assert_eq!(mode_of(&scratch.0.join(LOCK_FILE)), 0o600);
        let client = UnixStream::connect(&claimed.path).unwrap();
        let (server, _) = claimed.listener.accept().unwrap();
        assert!(peer_is_us(&server).unwrap());
        assert!(peer_is_us(&client).unwrap());
    }

    #[test]
    fn a_live_name_cannot_be_claimed_again_exactly() {
        let scratch = Scratch::new("taken");
        let first = claim(&scratch.0, Wanted::Exact("web")).unwrap();
        let err = error_of(claim(&scratch.0, Wanted::Exact("web")));
        assert_eq!(
            err,
            "session web already exists (attach with `opmux attach web`)"
        );
        // The refused claim left the live socket alone.
        UnixStream::connect(&first.path).unwrap();
    }

    #[test]
    fn default_names_are_numbered_while_earlier_ones_live() {
        let scratch = Scratch::new("numbered");
        let claims: Vec<Claimed> = (0..3)
            .map(|_| claim(&scratch.0, Wanted::Default("web")).unwrap())
            .collect();
        let names: Vec<&str> = claims.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["web", "web-2", "web-3"]);
        assert_eq!(
            live_sessions(&scratch.0).unwrap(),
            vec![
                ("web".to_string(), scratch.0.join("web.sock")),
                ("web-2".to_string(), scratch.0.join("web-2.sock")),
                ("web-3".to_string(), scratch.0.join("web-3.sock")),
            ]
        );
    }

    #[test]
    fn a_stale_socket_is_removed_and_its_name_is_free_again() {
        let scratch = Scratch::new("stale");
        let stale = scratch.0.join("web.sock");
        leave_stale_socket(&stale);
        let claimed = claim(&scratch.0, Wanted::Exact("web")).unwrap();
        assert_eq!(claimed.path, stale);
        UnixStream::connect(&stale).unwrap();

        leave_stale_socket(&scratch.0.join("api.sock"));
        let claimed = claim(&scratch.0, Wanted::Default("api")).unwrap();
        assert_eq!(claimed.name, "api");
    }

    #[test]
    fn live_sessions_skip_and_remove_stale_sockets() {
        let scratch = Scratch::new("list");
        let _b = claim(&scratch.0, Wanted::Exact("b")).unwrap();
        let _a = claim(&scratch.0, Wanted::Exact("a")).unwrap();
        let dead = scratch.0.join("dead.sock");
        leave_stale_socket(&dead);
        fs::write(scratch.0.join("notes.txt"), "").unwrap();
        fs::write(scratch.0.join("file.sock"), "not a socket").unwrap();
        let live = live_sessions(&scratch.0).unwrap();
        assert_eq!(
            live,
            vec![
                ("a".to_string(), scratch.0.join("a.sock")),
                ("b".to_string(), scratch.0.join("b.sock")),
            ]
        );
        assert!(!dead.exists(), "the stale socket was left");
        assert!(
            scratch.0.join("file.sock").exists(),
            "a file not ours was removed"
        );
        assert!(scratch.0.join("notes.txt").exists());
    }

    #[test]
    fn something_other_than_a_socket_is_not_taken_over() {
        let scratch = Scratch::new("other");
        fs::write(scratch.0.join("web.sock"), "keep me").unwrap();
        let err = error_of(claim(&scratch.0, Wanted::Exact("web")));
        assert!(
            err.ends_with("web.sock is not a socket; remove it or pick another name"),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(scratch.0.join("web.sock")).unwrap(),
            "keep me"
        );
    }

    #[test]
    fn racing_default_claims_get_different_names_and_keep_their_sockets() {
        let scratch = Scratch::new("race");
        for round in 0..50 {
            let dir = scratch.0.join(round.to_string());
            DirBuilder::new().mode(0o700).create(&dir).unwrap();
            let start = Arc::new(Barrier::new(2));
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    let (dir, start) = (dir.clone(), Arc::clone(&start));
                    std::thread::spawn(move || {
                        start.wait();
                        claim(&dir, Wanted::Default("x")).unwrap()
                    })
                })
                .collect();
            let mut claims: Vec<Claimed> = racers
                .into_iter()
                .map(|racer| racer.join().expect("claim panicked"))
                .collect();
            claims.sort_by(|a, b| a.name.cmp(&b.name));
            let names: Vec<&str> = claims.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["x", "x-2"], "round {round}");
            for claimed in &claims {
                UnixStream::connect(&claimed.path)
                    .unwrap_or_else(|e| panic!("round {round}: {} lost: {e}", claimed.name));
                assert_eq!(mode_of(&claimed.path), 0o600, "round {round}");
            }
        }
    }

    #[test]
    fn a_peer_of_the_same_process_is_us() {
        let (a, b) = UnixStream::pair().unwrap();
        assert!(peer_is_us(&a).unwrap());
        assert!(peer_is_us(&b).unwrap());
    }
}

//! What a pane's screen publishes for the main thread to read without the
//! screen's lock.
//!
//! A parser busy with a flood holds its pane's lock nearly all the time, and
//! the scheduler can preempt it there. With many panes flooding a 2-core
//! machine, a preempted parser (a flood's runs at the lowest priority) may
//! wait a hundred milliseconds for the CPU, and anything waiting for its lock
//! waits as long. The main thread therefore never waits for a parser on its hot
//! paths:
//!
//! - the input modes a key, a paste or a mouse event is encoded for are
//!   published after every change, in one atomic word;
//! - a renderer that finds the screen locked asks for a copy, which the
//!   parser leaves here the next time it has parsed something (at most once
//!   per request, so once per frame at most), and draws the pane from the
//!   copy or from what it drew last until then;
//! - a generation counts the screen's changes, so the renderer can tell a
//!   drawing it kept is still right without the lock;
//! - while the program holds synchronized output (mode 2026), the time it
//!   began, so the renderer can keep showing the pane as it was before.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use vt100::{MouseProtocolEncoding, MouseProtocolMode};

/// The terminal modes that change how input is encoded for a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputModes {
    pub alternate_screen: bool,
    pub application_cursor: bool,
    pub bracketed_paste: bool,
    pub mouse_mode: MouseProtocolMode,
    pub mouse_encoding: MouseProtocolEncoding,
    /// Mode 1004: the program wants `CSI I` when its pane gains the focus
    /// and `CSI O` when it loses it. vt100 does not track it; the screen
    /// does.
    pub focus_events: bool,
}

impl Default for InputModes {
    fn default() -> Self {
        Self {
            alternate_screen: false,
            application_cursor: false,
            bracketed_paste: false,
            mouse_mode: MouseProtocolMode::None,
            mouse_encoding: MouseProtocolEncoding::Default,
            focus_events: false,
        }
    }
}

impl InputModes {
    /// The modes `vt` is in; `focus_events` is left off, since vt100 does
    /// not know it.
    pub fn of(vt: &vt100::Screen) -> Self {
        Self {
            alternate_screen: vt.alternate_screen(),
            application_cursor: vt.application_cursor(),
            bracketed_paste: vt.bracketed_paste(),
            mouse_mode: vt.mouse_protocol_mode(),
            mouse_encoding: vt.mouse_protocol_encoding(),
            focus_events: false,
        }
    }

    /// Packs the modes into one word: three flag bits, the mouse mode and
    /// encoding in three bits each, then focus events.
    fn pack(self) -> u32 {
        let mode = match self.mouse_mode {
            MouseProtocolMode::None => 0,
            MouseProtocolMode::Press => 1,
            MouseProtocolMode::PressRelease => 2,
            MouseProtocolMode::ButtonMotion => 3,
            MouseProtocolMode::AnyMotion => 4,
        };
        let encoding = match self.mouse_encoding {
            MouseProtocolEncoding::Default => 0,
            MouseProtocolEncoding::Utf8 => 1,
            MouseProtocolEncoding::Sgr => 2,
        };
        u32::from(self.alternate_screen)
            | u32::from(self.application_cursor) << 1
            | u32::from(self.bracketed_paste) << 2
            | mode << 3
            | encoding << 6
            | u32::from(self.focus_events) << 9
    }

    fn unpack(word: u32) -> Self {
        let mouse_mode = match (word >> 3) & 0b111 {
            1 => MouseProtocolMode::Press,
            2 => MouseProtocolMode::PressRelease,
            3 => MouseProtocolMode::ButtonMotion,
            4 => MouseProtocolMode::AnyMotion,
            _ => MouseProtocolMode::None,
        };
        let mouse_encoding = match (word >> 6) & 0b111 {
            1 => MouseProtocolEncoding::Utf8,
            2 => MouseProtocolEncoding::Sgr,
            _ => MouseProtocolEncoding::Default,
        };
        Self {
            alternate_screen: word & 1 != 0,
            application_cursor: word & 2 != 0,
            bracketed_paste: word & 4 != 0,
            mouse_mode,
            mouse_encoding,
            focus_events: word & 1 << 9 != 0,
        }
    }
}

/// A copy of a pane's screen, for drawing while its parser holds the lock.
pub struct ScreenCopy {
    pub vt: vt100::Screen,
    pub title: Option<String>,
    /// The [`Published::generation`] it was made at.
    pub generation: u64,
}

/// Shared between a pane's [`Screen`](super::screen::Screen), which writes
/// it while holding its own lock, and the main thread, which reads it
/// without that lock.
#[derive(Default)]
pub struct Published {
    generation: AtomicU64,
    modes: AtomicU32,
    /// When synchronized output began, as microseconds after [`epoch`]
    /// plus one; zero while the mode is off.
    synchronized: AtomicU64,
    wanted: AtomicBool,
    copy: Mutex<Option<Box<ScreenCopy>>>,
}

impl Published {
    /// Counts the screen's changes: a drawing made at one generation is
    /// still right while the generation is the same.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Marks a change; returns the new generation.
    pub(super) fn changed(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The input modes as of the last output parsed.
    pub fn modes(&self) -> InputModes {
        InputModes::unpack(self.modes.load(Ordering::Acquire))
    }

    pub(super) fn set_modes(&self, modes: InputModes) {
        self.modes.store(modes.pack(), Ordering::Release);
    }

    /// When the program turned synchronized output (mode 2026) on, while
    /// it holds it: what the screen shows since is half-finished.
    pub fn synchronized_since(&self) -> Option<Instant> {
        match self.synchronized.load(Ordering::Acquire) {
            0 => None,
            micros => Some(epoch() + std::time::Duration::from_micros(micros - 1)),
        }
    }

    pub(super) fn set_synchronized(&self, since: Option<Instant>) {
        let word = since.map_or(0, |at| {
            let micros = at.saturating_duration_since(epoch()).as_micros();
            u64::try_from(micros).unwrap_or(u64::MAX - 1) + 1
        });
        self.synchronized.store(word, Ordering::Release);
    }

    /// Asks for a copy of the screen after the next output parsed.
    pub fn want_copy(&self) {
        self.wanted.store(true, Ordering::Release);
    }

    /// Takes back a request nobody needs any more, and drops a copy that
    /// is older than what the caller just saw under the lock.
    pub fn forget_copy(&self) {
        self.wanted.store(false, Ordering::Release);
        if let Some(mut copy) = self.copy.try_lock() {
            *copy = None;
        }
    }

    /// Whether a copy was asked for; clears the request.
    pub(super) fn copy_wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed) && self.wanted.swap(false, Ordering::AcqRel)
    }

    pub(super) fn put_copy(&self, copy: ScreenCopy) {
        *self.copy.lock() = Some(Box::new(copy));
    }

    /// Takes the copy left since the last call, if any. Never waits: a
    /// copy being put right now is taken next time.
    pub fn take_copy(&self) -> Option<Box<ScreenCopy>> {
        self.copy.try_lock()?.take()
    }

    /// Waits until `deadline` for a copy, looking every tenth of a
    /// millisecond; for a caller with nothing else to draw.
    pub fn wait_copy(&self, deadline: std::time::Instant) -> Option<Box<ScreenCopy>> {
        let step = std::time::Duration::from_micros(100);
        loop {
            if let Some(copy) = self.take_copy() {
                return Some(copy);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(step);
        }
    }
}

/// The origin of the instants kept in atomics: the first time one is
/// needed. An instant before it reads as the origin itself, at most the
/// moment between a parser reading the clock and publishing.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_survives_packing() {
        let modes = [
            MouseProtocolMode::None,
            MouseProtocolMode::Press,
            MouseProtocolMode::PressRelease,
            MouseProtocolMode::ButtonMotion,
            MouseProtocolMode::AnyMotion,
        ];
        let encodings = [
            MouseProtocolEncoding::Default,
            MouseProtocolEncoding::Utf8,
            MouseProtocolEncoding::Sgr,
        ];
        for flags in 0..16u8 {
            for mouse_mode in modes {
                for mouse_encoding in encodings {
                    let input = InputModes {
                        alternate_screen: flags & 1 != 0,
                        application_cursor: flags & 2 != 0,
                        bracketed_paste: flags & 4 != 0,
                        mouse_mode,
                        mouse_encoding,
                        focus_events: flags & 8 != 0,
                    };
                    let published = Published::default();
                    published.set_modes(input);
                    assert_eq!(published.modes(), input);
                }
            }
        }
    }

    #[test]
    fn the_start_of_synchronized_output_survives_publishing() {
        let published = Published::default();
        assert_eq!(published.synchronized_since(), None);
        // Instants before the origin read as the origin.
        let at = epoch() + std::time::Duration::from_millis(3);
        published.set_synchronized(Some(at));
        let read = published.synchronized_since().expect("set");
        assert!(
            read <= at && at - read < std::time::Duration::from_micros(1),
            "{read:?} {at:?}"
        );
        published.set_synchronized(None);
        assert_eq!(published.synchronized_since(), None);
    }

    #[test]
    fn a_copy_is_made_once_per_request() {
        let published = Published::default();
        assert!(!published.copy_wanted());
        published.want_copy();
        assert!(published.copy_wanted());
        assert!(!published.copy_wanted(), "one request, one copy");
        published.want_copy();
        published.forget_copy();
        assert!(!published.copy_wanted());
    }
}

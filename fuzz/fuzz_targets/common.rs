//! What the targets share: an app of running panes that does no I/O, drawn
//! frame over frame into memory, and a reader of the fuzzer's bytes.

use std::time::Instant;

use opmux::app::App;
use opmux::config::PaneSpec;
use opmux::event::Event;
use opmux::ui::{FrameCache, Painter};
use opmux::{PaneId, Size};

/// Takes the fuzzer's bytes one decision at a time; zeros once they run out.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    pub fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }

    pub fn take(&mut self, n: usize) -> &[u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A terminal size from 1×1 up to 64 rows by 200 columns.
    pub fn size(&mut self) -> Size {
        Size::new(
            1 + u16::from(self.byte()) % 64,
            1 + u16::from(self.byte()) % 200,
        )
    }
}

/// An app of `panes` running panes on a terminal of `size`, with a short
/// history so a long input scrolls through it.
pub fn app(panes: usize, size: Size) -> App {
    let specs = (0..panes)
        .map(|i| PaneSpec::new(&format!("p{i}"), vec!["/bin/true".into()]))
        .collect();
    let mut app = App::new(specs, size);
    app.start();
    for i in 0..panes {
        let pid = nix::unistd::Pid::from_raw(999_001 + i as i32);
        app.update(
            Event::PaneStarted {
                pane: PaneId(i),
                pid,
            },
            Instant::now(),
        );
        app.panes[i].screen().set_scrollback(200);
    }
    app
}

/// Draws frames of an app the way the terminal front end does.
pub struct Screen {
    painter: Painter,
    backend: ratatui::backend::CrosstermBackend<std::io::Sink>,
    cache: FrameCache,
}

impl Screen {
    pub fn new(size: Size) -> Self {
        Self {
            painter: Painter::new(size),
            backend: ratatui::backend::CrosstermBackend::new(std::io::sink()),
            cache: FrameCache::default(),
        }
    }

    pub fn draw(&mut self, app: &App) {
        if self.painter.size() != app.size {
            self.painter.resize(app.size);
        }
        let cache = &mut self.cache;
        self.painter
            .draw(&mut self.backend, |canvas| {
                opmux::ui::render_cached(canvas, app, Instant::now(), cache)
            })
            .expect("drawing into memory cannot fail");
    }
}

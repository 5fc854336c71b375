//! What drawing one keystroke's echo costs inside opmux, without any
//! terminal, thread or scheduler: two panes on a 200×50 screen, a key echoed
//! into the first, and a frame drawn over the last one, 20,000 times.
//!
//! `cargo bench --bench frame` prints the mean time per frame and per
//! parsed key. The end-to-end figures, side by side with tmux, are in the
//! `versus_tmux` benchmark.

use std::time::{Duration, Instant};

use opmux::app::App;
use opmux::config::PaneSpec;
use opmux::event::Event;
use opmux::ui::{FrameCache, Painter};
use opmux::{PaneId, Size};

const FRAMES: u32 = 20_000;

fn main() {
    let specs = ["cat", "sleep"]
        .map(|name| PaneSpec::new(name, vec!["/bin/true".into()]))
        .to_vec();
    let mut app = App::new(specs, Size::new(50, 200));
    app.start();
    for i in 0..2 {
        let pid = nix::unistd::Pid::from_raw(999_001 + i as i32);
        let started = Event::PaneStarted {
            pane: PaneId(i),
            pid,
        };
        app.update(started, Instant::now());
    }
    // What a terminal would be sent is thrown away.
    let mut backend = ratatui::backend::CrosstermBackend::new(std::io::sink());
    let mut painter = Painter::new(app.session.size);
    let mut cache = FrameCache::default();
    let now = Instant::now();
    let mut frame = |app: &App| {
        painter
            .draw(&mut backend, |canvas| {
                opmux::ui::render_cached(canvas, &app.session, &app.view, now, &mut cache)
            })
            .expect("drawing into memory");
    };
    frame(&app);
    let (mut parsing, mut drawing) = (Duration::ZERO, Duration::ZERO);
    for i in 0..FRAMES {
        let start = Instant::now();
        let key: &[u8] = if i % 2 == 0 { b"#" } else { b"@" };
        app.session.panes[0].screen().process(key);
        if i % 150 == 149 {
            app.session.panes[0].screen().process(b"\r\n");
        }
        let parsed = Instant::now();
        frame(&app);
        parsing += parsed - start;
        drawing += parsed.elapsed();
    }
    println!(
        "a key's echo in a 200x50 frame of 2 panes, mean of {FRAMES}: parsing {:?}, drawing {:?}",
        parsing / FRAMES,
        drawing / FRAMES
    );
}

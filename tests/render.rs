//! The render layer: program output fed into a pane's screen, the `App` drawn
//! by `opmux::ui::render` onto a ratatui `TestBackend`, and the resulting cells
//! (symbol, colours, modifiers) and cursor checked.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use opmux::app::App;
use opmux::config::PaneSpec;
use opmux::event::Event;
use opmux::keys::KEY_HELP;
use opmux::pane::PaneState;
use opmux::pane::screen::Screen;
use opmux::process::ExitStatus;
use opmux::ui::{FrameCache, Painter, duration_label, state_label};
use opmux::{PaneId, Size};
use ratatui::Terminal;
use ratatui::backend::{Backend, TestBackend};
use ratatui::buffer::{Buffer, Cell, CellWidth};
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A pid no test ever signals: `App` does no I/O, it only names it in states.
fn fake_pid(index: usize) -> Pid {
    Pid::from_raw(999_001 + index as i32)
}

/// An app of panes named `names` on a `cols` × `rows` terminal, started as
/// the runtime starts it and all running.
fn app(names: &[&str], cols: u16, rows: u16) -> App {
    let specs = names
        .iter()
        .map(|name| PaneSpec::new(*name, vec!["/bin/true".into()]))
        .collect();
    let mut app = App::new(specs, Size::new(rows, cols));
    app.start();
    for i in 0..names.len() {
        let started = Event::PaneStarted {
            pane: PaneId(i),
            pid: fake_pid(i),
        };
        app.update(started, Instant::now());
    }
    app
}

/// Feeds program output into pane `index`'s screen.
fn output(app: &App, index: usize, bytes: &[u8]) {
    app.session.panes[index].screen().process(bytes);
}

/// Draws `app` on a fresh terminal of the app's size.
fn draw(app: &App) -> Terminal<TestBackend> {
    draw_at(
        app,
        app.session.size.cols,
        app.session.size.rows,
        Instant::now(),
    )
}

fn draw_at(app: &App, cols: u16, rows: u16, now: Instant) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(cols, rows)).unwrap();
    terminal
        .draw(|frame| opmux::ui::render(frame, app, now))
        .unwrap();
    terminal
}

fn press(app: &mut App, code: KeyCode, modifiers: KeyModifiers) {
    app.update(Event::Key(KeyEvent::new(code, modifiers)), Instant::now());
}

fn prefix(app: &mut App, c: char) {
    press(app, KeyCode::Char('b'), KeyModifiers::CONTROL);
    press(app, KeyCode::Char(c), KeyModifiers::NONE);
}

fn cell(terminal: &Terminal<TestBackend>, x: u16, y: u16) -> &Cell {
    &terminal.backend().buffer()[(x, y)]
}

/// Row `y` as (x, symbol) pairs, leaving out the cells under the right half
/// of a wide symbol, so the symbols read as the row shows them.
fn row_cells(buffer: &Buffer, y: u16) -> Vec<(u16, &str)> {
    let mut cells = Vec::new();
    let mut covered = 0;
    for x in 0..buffer.area.width {
        let cell = &buffer[(x, y)];
        if covered > 0 {
            covered -= 1;
            continue;
        }
        cells.push((x, cell.symbol()));
        covered = cell.cell_width().saturating_sub(1);
    }
    cells
}

fn row_text(terminal: &Terminal<TestBackend>, y: u16) -> String {
    row_cells(terminal.backend().buffer(), y)
        .into_iter()
        .map(|(_, s)| s)
        .collect()
}

/// The x of the first cell of `needle` on row `y`, if the row shows it.
fn find(terminal: &Terminal<TestBackend>, y: u16, needle: &str) -> Option<u16> {
    let cells = row_cells(terminal.backend().buffer(), y);
    (0..cells.len()).find_map(|start| {
        let text: String = cells[start..].iter().map(|(_, s)| *s).collect();
        text.starts_with(needle).then_some(cells[start].0)
    })
}

fn screen_dump(terminal: &Terminal<TestBackend>) -> String {
    terminal.backend().to_string()
}

// --- colours and attributes -------------------------------------------------

#[test]
fn sgr_colours_map_to_ratatui_colours() {
    // (SGR parameters, expected fg, expected bg)
    let cases: &[(&str, Color, Color)] = &[
        ("", Color::Reset, Color::Reset),
        ("30", Color::Black, Color::Reset),
        ("31", Color::Red, Color::Reset),
        ("32", Color::Green, Color::Reset),
        ("33", Color::Yellow, Color::Reset),
        ("34", Color::Blue, Color::Reset),
        ("35", Color::Magenta, Color::Reset),
        ("36", Color::Cyan, Color::Reset),
        ("37", Color::Gray, Color::Reset),
        ("90", Color::DarkGray, Color::Reset),
        ("91", Color::LightRed, Color::Reset),
        ("92", Color::LightGreen, Color::Reset),
        ("93", Color::LightYellow, Color::Reset),
        ("94", Color::LightBlue, Color::Reset),
        ("95", Color::LightMagenta, Color::Reset),
        ("96", Color::LightCyan, Color::Reset),
        ("97", Color::White, Color::Reset),
        ("41", Color::Reset, Color::Red),
        ("102", Color::Reset, Color::LightGreen),
        ("107", Color::Reset, Color::White),
        ("31;44", Color::Red, Color::Blue),
        // The first 16 of the 256 are the named colours, as 30–37/90–97 are.
        ("38;5;1", Color::Red, Color::Reset),
        ("38;5;9", Color::LightRed, Color::Reset),
        ("38;5;15", Color::White, Color::Reset),
        ("38;5;16", Color::Indexed(16), Color::Reset),
        ("38;5;123", Color::Indexed(123), Color::Reset),
        ("38;5;255", Color::Indexed(255), Color::Reset),
        ("48;5;200", Color::Reset, Color::Indexed(200)),
        ("48;5;4", Color::Reset, Color::Blue),
        ("38;2;1;2;3", Color::Rgb(1, 2, 3), Color::Reset),
        ("48;2;250;128;0", Color::Reset, Color::Rgb(250, 128, 0)),
        (
            "38;2;10;20;30;48;5;42",
            Color::Rgb(10, 20, 30),
            Color::Indexed(42),
        ),
        ("31;39", Color::Reset, Color::Reset),
        ("41;49", Color::Reset, Color::Reset),
    ];
    for &(sgr, fg, bg) in cases {
        let app = app(&["colours"], 20, 5);
        output(&app, 0, format!("\x1b[{sgr}mX").as_bytes());
        let terminal = draw(&app);
        let got = cell(&terminal, 1, 1);
        assert_eq!(got.symbol(), "X", "SGR {sgr}");
        assert_eq!((got.fg, got.bg), (fg, bg), "SGR {sgr}");
    }
}

#[test]
fn sgr_attributes_map_to_ratatui_modifiers() {
    let cases: &[(&str, Modifier)] = &[
        ("1", Modifier::BOLD),
        ("2", Modifier::DIM),
        ("3", Modifier::ITALIC),
        ("4", Modifier::UNDERLINED),
        ("7", Modifier::REVERSED),
        (
            "1;3;4",
            Modifier::BOLD
                .union(Modifier::ITALIC)
                .union(Modifier::UNDERLINED),
        ),
        ("1;22", Modifier::empty()),
        ("3;23", Modifier::empty()),
        ("4;24", Modifier::empty()),
        ("7;27", Modifier::empty()),
    ];
    for &(sgr, modifier) in cases {
        let app = app(&["attrs"], 20, 5);
        output(&app, 0, format!("\x1b[{sgr}mX").as_bytes());
        let terminal = draw(&app);
        assert_eq!(cell(&terminal, 1, 1).modifier, modifier, "SGR {sgr}");
    }
}

#[test]
fn sgr_reset_returns_to_the_default_style() {
    let app = app(&["reset"], 20, 5);
    output(&app, 0, b"\x1b[1;4;31;42mA\x1b[0mB");
    let terminal = draw(&app);
    let a = cell(&terminal, 1, 1);
    assert_eq!((a.symbol(), a.fg, a.bg), ("A", Color::Red, Color::Green));
    assert_eq!(a.modifier, Modifier::BOLD | Modifier::UNDERLINED);
    let b = cell(&terminal, 2, 1);
    assert_eq!((b.symbol(), b.fg, b.bg), ("B", Color::Reset, Color::Reset));
    assert_eq!(b.modifier, Modifier::empty());
}

#[test]
fn erased_cells_keep_the_background_colour() {
    let app = app(&["erase"], 20, 5);
    // Erase-in-line with a blue background paints the rest of the row blue.
    output(&app, 0, b"\x1b[44mA\x1b[K");
    let terminal = draw(&app);
    assert_eq!(cell(&terminal, 1, 1).bg, Color::Blue);
    let blank = cell(&terminal, 10, 1);
    assert_eq!((blank.symbol(), blank.bg), (" ", Color::Blue));
}

// --- wide characters ------------------------------------------------------

#[test]
fn wide_characters_take_two_cells() {
    let app = app(&["wide"], 20, 5);
    output(&app, 0, "漢a😀b\x1b[31m字\x1b[0mc".as_bytes());
    let terminal = draw(&app);
    let cells: Vec<_> = row_cells(terminal.backend().buffer(), 1)
        .into_iter()
        .take(7)
        .collect();
    assert_eq!(
        cells,
        vec![
            (0, "┃"),
            (1, "漢"),
            (3, "a"),
            (4, "😀"),
            (6, "b"),
            (7, "字"),
            (9, "c"),
        ],
        "\n{}",
        screen_dump(&terminal)
    );
    assert_eq!(cell(&terminal, 7, 1).fg, Color::Red);
    // The right half of a wide character is a blank cell, as ratatui expects.
    assert_eq!(cell(&terminal, 2, 1).symbol(), " ");
    assert_eq!(cell(&terminal, 5, 1).symbol(), " ");
}

#[test]
fn a_wide_char_that_does_not_fit_wraps_and_the_border_stays() {
    // 22 columns: two panes 11 wide, 9 inside their borders. Four wide chars
    // fill 8 columns; the fifth cannot straddle the ninth and wraps.
    let app = app(&["left", "right"], 22, 8);
    output(&app, 1, b"RIGHTSIDE");
    output(&app, 0, "漢字漢字漢".as_bytes());
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    assert_eq!(
        find(&terminal, 1, "┃漢字漢字 ┃│RIGHTSIDE│"),
        Some(0),
        "\n{dump}"
    );
    assert_eq!(cell(&terminal, 9, 1).symbol(), " ", "\n{dump}");
    assert_eq!(cell(&terminal, 10, 1).fg, Color::Cyan, "\n{dump}");
    assert_eq!(find(&terminal, 2, "┃漢"), Some(0), "\n{dump}");
}

#[test]
fn wide_char_at_the_right_edge_never_spills_into_the_neighbour() {
    // As above, but the left screen is one column wider than the pane shows,
    // as when a frame is drawn before the screen catches up with the layout:
    // the fifth wide char really straddles the pane's last column.
    let app = app(&["left", "right"], 22, 8);
    assert_eq!(app.session.panes[0].screen().size(), Size::new(5, 9));
    app.session.panes[0].screen().resize(Size::new(5, 10));
    output(&app, 1, b"RIGHTSIDE");
    output(&app, 0, "漢字漢字漢\r\n\x1b[41mabcdefghi漢".as_bytes());
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    assert_eq!(
        find(&terminal, 1, "┃漢字漢字 ┃│RIGHTSIDE│"),
        Some(0),
        "\n{dump}"
    );
    let straddler = cell(&terminal, 9, 1);
    assert_eq!(straddler.symbol(), " ", "drawn as a blank\n{dump}");
    let border = cell(&terminal, 10, 1);
    assert_eq!((border.symbol(), border.fg), ("┃", Color::Cyan), "\n{dump}");
    // A narrow last column is drawn; the wide char after it is not.
    assert_eq!(find(&terminal, 2, "┃abcdefghi┃│"), Some(0), "\n{dump}");
    assert_eq!(
        cell(&terminal, 10, 2).bg,
        Color::Reset,
        "no colour on the border"
    );
}

#[test]
fn draw_screen_clips_a_straddling_wide_char_to_a_blank() {
    let mut screen = Screen::new(Size::new(2, 4));
    screen.process("a漢字".as_bytes());
    // The screen is 4 columns, the area 2: '漢' sits on columns 1 and 2.
    let mut buffer = Buffer::filled(Rect::new(0, 0, 5, 3), Cell::new("N"));
    opmux::ui::draw_screen(&mut buffer, Rect::new(1, 1, 2, 1), screen.vt());
    let symbols: Vec<String> = (0..3)
        .map(|y| (0..5).map(|x| buffer[(x, y)].symbol()).collect())
        .collect();
    assert_eq!(symbols, ["NNNNN", "Na NN", "NNNNN"]);
}

// --- cursor ---------------------------------------------------------------

#[test]
fn the_cursor_sits_at_the_focused_panes_cursor_inside_its_border() {
    let mut app = app(&["one", "two"], 80, 24);
    output(&app, 0, b"ab\r\ncd");
    output(&app, 1, b"xyz");
    let mut terminal = draw(&app);
    assert!(terminal.backend().cursor_visible());
    assert_eq!(terminal.get_cursor_position().unwrap(), Position::new(3, 2));

    prefix(&mut app, 'o');
    let mut terminal = draw(&app);
    assert!(terminal.backend().cursor_visible());
    // Pane 2 starts at x = 40; its border moves the cursor one right, one down.
    assert_eq!(
        terminal.get_cursor_position().unwrap(),
        Position::new(44, 1)
    );

    output(&app, 1, b"\x1b[10;20H");
    let mut terminal = draw(&app);
    assert_eq!(
        terminal.get_cursor_position().unwrap(),
        Position::new(60, 10)
    );
}

#[test]
fn a_cursor_hidden_by_the_program_is_hidden() {
    let app = app(&["one", "two"], 80, 24);
    output(&app, 1, b"\x1b[?25l");
    assert!(
        draw(&app).backend().cursor_visible(),
        "pane 2 is not focused"
    );
    output(&app, 0, b"\x1b[?25l");
    assert!(!draw(&app).backend().cursor_visible());
    output(&app, 0, b"\x1b[?25h");
    assert!(draw(&app).backend().cursor_visible());
}

#[test]
fn the_help_overlay_hides_the_cursor() {
    let mut app = app(&["one"], 80, 24);
    prefix(&mut app, '?');
    assert!(!draw(&app).backend().cursor_visible());
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert!(draw(&app).backend().cursor_visible());
}

#[test]
fn the_cursor_stays_on_the_last_column_while_a_wrap_is_pending() {
    // 10 × 5: the pane is 8 columns inside. Eight characters fill the row;
    // xterm and tmux keep the cursor on the last column until the next one.
    let app = app(&["full"], 10, 5);
    output(&app, 0, b"12345678");
    let mut terminal = draw(&app);
    assert!(terminal.backend().cursor_visible());
    assert_eq!(terminal.get_cursor_position().unwrap(), Position::new(8, 1));
}

// --- borders, titles, status line -------------------------------------------

#[test]
fn the_focused_pane_has_a_thick_cyan_border_and_the_others_a_plain_one() {
    let mut app = app(&["one", "two"], 80, 24);
    for focus in [0, 1] {
        if app.view.focus != focus {
            prefix(&mut app, 'o');
        }
        let terminal = draw(&app);
        let dump = screen_dump(&terminal);
        for (pane, x) in [(0, 0), (1, 40)] {
            let right = x + 39;
            let (corners, edge, colour) = if pane == focus {
                (["┏", "┓", "┗", "┛"], "┃", Color::Cyan)
            } else {
                (["┌", "┐", "└", "┘"], "│", Color::DarkGray)
            };
            let got = [
                cell(&terminal, x, 0),
                cell(&terminal, right, 0),
                cell(&terminal, x, 22),
                cell(&terminal, right, 22),
            ];
            for (cell, corner) in got.iter().zip(corners) {
                assert_eq!(
                    (cell.symbol(), cell.fg),
                    (corner, colour),
                    "pane {} with focus on {}\n{dump}",
                    pane + 1,
                    focus + 1
                );
            }
            let side = cell(&terminal, x, 10);
            assert_eq!((side.symbol(), side.fg), (edge, colour), "\n{dump}");
        }
    }
}

#[test]
fn titles_show_number_name_and_state() {
    let t0 = Instant::now();
    let now = t0 + secs(60);
    let stopping =
        |deadline: Instant, killed: bool, exit: Option<ExitStatus>| PaneState::Stopping {
            pid: fake_pid(1),
            since: t0,
            deadline,
            killed,
            exit,
            restart: false,
        };
    let exited = |status: ExitStatus, ran: Duration| PaneState::Exited { status, ran };
    let segv = Some(ExitStatus::Signaled(Signal::SIGSEGV));
    // (state, label, label colour)
    let cases: Vec<(PaneState, &str, Color)> = vec![
        (PaneState::NotStarted, "not started", Color::DarkGray),
        (
            PaneState::Running {
                pid: fake_pid(1),
                since: t0,
            },
            "running · pid 999002",
            Color::Green,
        ),
        (
            stopping(now + millis(4_200), false, None),
            "stopping · kill in 5s",
            Color::Yellow,
        ),
        (
            stopping(now + secs(4), false, None),
            "stopping · kill in 4s",
            Color::Yellow,
        ),
        (
            stopping(now + millis(1), false, None),
            "stopping · kill in 1s",
            Color::Yellow,
        ),
        (
            stopping(now - secs(1), false, None),
            "stopping · kill in 0s",
            Color::Yellow,
        ),
        (stopping(now, true, None), "killing", Color::Yellow),
        (
            stopping(now + millis(2_500), false, Some(ExitStatus::Exited(3))),
            "exited 3 · stopping the rest, kill in 3s",
            Color::Yellow,
        ),
        (
            stopping(now + millis(2_500), false, segv),
            "killed SIGSEGV · stopping the rest, kill in 3s",
            Color::Yellow,
        ),
        (
            stopping(now - secs(1), true, Some(ExitStatus::Exited(3))),
            "killing",
            Color::Yellow,
        ),
        (
            exited(ExitStatus::Exited(3), millis(12_700)),
            "exited 3 after 12s",
            Color::Red,
        ),
        (
            exited(ExitStatus::Exited(0), millis(400)),
            "exited 0 after 0.4s",
            Color::DarkGray,
        ),
        (
            exited(ExitStatus::Signaled(Signal::SIGKILL), millis(400)),
            "killed SIGKILL after 0.4s",
            Color::Red,
        ),
        (
            exited(ExitStatus::Signaled(Signal::SIGTERM), secs(185)),
            "killed SIGTERM after 3m05s",
            Color::Red,
        ),
        (
            exited(ExitStatus::Exited(0), secs(2 * 3600 + 7 * 60 + 59)),
            "exited 0 after 2h07m",
            Color::DarkGray,
        ),
        (
            PaneState::Failed("no such file".into()),
            "failed: no such file",
            Color::Red,
        ),
    ];
    for (state, label, colour) in cases {
        // Wide enough for the longest title: pane 2 starts at x = 80.
        let mut app = app(&["web", "db"], 160, 24);
        app.session.panes[1].state = state.clone();
        let terminal = draw_at(&app, 160, 24, now);
        let dump = screen_dump(&terminal);
        let title = find(&terminal, 0, &format!(" 2 db  {label} ")).unwrap_or_else(|| {
            panic!("no title {label:?} for {state:?}\n{dump}");
        });
        assert!(title > 80, "pane 2's title is on pane 2\n{dump}");
        let label_x = title + " 2 db  ".len() as u16;
        assert_eq!(cell(&terminal, label_x, 0).fg, colour, "{label}");
        assert!(
            find(&terminal, 0, " 1 web  running · pid 999001 ").is_some_and(|x| x < 80),
            "\n{dump}"
        );
    }
}

#[test]
fn state_labels_count_down_in_whole_seconds_rounded_up() {
    let t0 = Instant::now();
    // (time left until the deadline, seconds shown)
    let cases: &[(Duration, u64)] = &[
        (secs(5), 5),
        (millis(4_001), 5),
        (secs(4), 4),
        (millis(999), 1),
        (millis(1), 1),
        (Duration::ZERO, 0),
    ];
    let mut pane = opmux::pane::Pane::new(
        PaneId(0),
        PaneSpec::new("p", vec!["true".into()]),
        Size::new(5, 5),
    );
    for &(left, shown) in cases {
        pane.state = PaneState::Stopping {
            pid: fake_pid(0),
            since: t0,
            deadline: t0 + secs(10) + left,
            killed: false,
            exit: None,
            restart: false,
        };
        assert_eq!(
            state_label(&pane, t0 + secs(10)),
            format!("stopping · kill in {shown}s"),
            "{left:?} left"
        );
    }
}

#[test]
fn run_times_read_as_people_say_them() {
    let cases: &[(Duration, &str)] = &[
        (Duration::ZERO, "0.0s"),
        (millis(400), "0.4s"),
        (millis(1_250), "1.2s"),
        (millis(9_940), "9.9s"),
        (secs(10), "10s"),
        (millis(12_700), "12s"),
        (millis(59_999), "59s"),
        (secs(60), "1m00s"),
        (secs(185), "3m05s"),
        (secs(3_599), "59m59s"),
        (secs(3_600), "1h00m"),
        (secs(2 * 3600 + 7 * 60 + 30), "2h07m"),
        (secs(100 * 3600 + 59), "100h00m"),
    ];
    for &(ran, label) in cases {
        assert_eq!(duration_label(ran), label, "{ran:?}");
    }
}

#[test]
fn the_focused_title_is_highlighted() {
    let app = app(&["web", "db"], 80, 24);
    let terminal = draw(&app);
    let web = find(&terminal, 0, "1 web").unwrap();
    let db = find(&terminal, 0, "2 db").unwrap();
    let focused = cell(&terminal, web, 0);
    assert_eq!((focused.fg, focused.bg), (Color::Black, Color::Cyan));
    assert!(focused.modifier.contains(Modifier::BOLD));
    let other = cell(&terminal, db, 0);
    assert_eq!(other.bg, Color::Reset);
    assert!(other.modifier.contains(Modifier::BOLD));
}

#[test]
fn a_pane_error_is_shown_in_its_title() {
    let mut app = app(&["web"], 80, 24);
    let failed = Event::PaneInputFailed {
        pane: PaneId(0),
        run: app.session.panes[0].run,
        error: "broken pipe".into(),
    };
    app.update(failed, Instant::now());
    let terminal = draw(&app);
    let x = find(&terminal, 0, "! writing input: broken pipe")
        .unwrap_or_else(|| panic!("\n{}", screen_dump(&terminal)));
    assert_eq!(cell(&terminal, x, 0).fg, Color::Red);
}

#[test]
fn the_status_line_lists_the_panes_on_the_last_row() {
    let mut app = app(&["web", "db", "logs"], 80, 24);
    app.session.panes[2].state = PaneState::Exited {
        status: ExitStatus::Exited(1),
        ran: secs(1),
    };
    prefix(&mut app, '2');
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    let status = row_text(&terminal, 23);
    assert!(
        status.starts_with(" 1:web  2:db  3:logs  C-b ? help · C-b q quit "),
        "{status:?}"
    );
    let focused = cell(&terminal, find(&terminal, 23, "2:db").unwrap(), 23);
    assert_eq!(
        (focused.fg, focused.bg),
        (Color::Black, Color::Cyan),
        "\n{dump}"
    );
    let web = cell(&terminal, find(&terminal, 23, "1:web").unwrap(), 23);
    assert_eq!(web.bg, Color::Reset);
    assert!(!web.modifier.contains(Modifier::DIM));
    let logs = cell(&terminal, find(&terminal, 23, "3:logs").unwrap(), 23);
    assert!(
        logs.modifier.contains(Modifier::DIM),
        "an exited pane is dimmed"
    );
    // The status line is not part of any pane.
    assert!(!row_text(&terminal, 22).contains("1:web"));
}

#[test]
fn the_status_line_shows_the_prefix_zoom_and_shutdown() {
    let now = Instant::now();
    let mut app = app(&["web", "db"], 80, 24);

    press(&mut app, KeyCode::Char('b'), KeyModifiers::CONTROL);
    let terminal = draw_at(&app, 80, 24, now);
    assert!(row_text(&terminal, 23).starts_with(" C-b  1:web "));
    assert_eq!(cell(&terminal, 1, 23).bg, Color::Yellow);

    press(&mut app, KeyCode::Char('z'), KeyModifiers::NONE);
    let terminal = draw_at(&app, 80, 24, now);
    let status = row_text(&terminal, 23);
    assert!(status.contains(" zoomed · C-b z unzoom "), "{status:?}");
    assert!(!status.starts_with(" C-b "), "the prefix is used up");

    app.update(Event::Signal(Signal::SIGTERM), now);
    let terminal = draw_at(&app, 80, 24, now + Duration::from_millis(1_500));
    let status = row_text(&terminal, 23);
    assert!(
        status.contains(" stopping, kill in 4s · C-b q kills now "),
        "{status:?}"
    );

    app.update(Event::Tick, now + secs(5));
    let terminal = draw_at(&app, 80, 24, now + secs(5));
    assert!(row_text(&terminal, 23).contains(" killing… "));
}

#[test]
fn the_status_line_counts_down_to_the_longest_stop_timeout() {
    let now = Instant::now();
    let mut app = app(&["web", "db", "logs"], 80, 24);
    app.session.panes[0].spec.stop_timeout = secs(2);
    app.session.panes[1].spec.stop_timeout = secs(8);
    // Not alive: its timeout does not count.
    app.session.panes[2].spec.stop_timeout = secs(60);
    app.session.panes[2].state = PaneState::Exited {
        status: ExitStatus::Exited(0),
        ran: secs(1),
    };
    app.update(Event::Signal(Signal::SIGTERM), now);

    let terminal = draw_at(&app, 80, 24, now + millis(500));
    let dump = screen_dump(&terminal);
    let status = row_text(&terminal, 23);
    assert!(
        status.contains(" stopping, kill in 8s · C-b q kills now "),
        "{status:?}"
    );
    assert!(
        find(&terminal, 0, " 1 web  stopping · kill in 2s ").is_some(),
        "\n{dump}"
    );
    assert!(
        find(&terminal, 0, " 2 db  stopping · kill in 8s ").is_some(),
        "\n{dump}"
    );
    // Stopping panes are alive, so not dimmed; the exited one is.
    for (name, dim) in [("1:web", false), ("2:db", false), ("3:logs", true)] {
        let x = find(&terminal, 23, name).unwrap();
        assert_eq!(
            cell(&terminal, x, 23).modifier.contains(Modifier::DIM),
            dim,
            "{name}"
        );
    }

    // Pane 1's own deadline passes first.
    app.update(Event::Tick, now + secs(2));
    let terminal = draw_at(&app, 80, 24, now + secs(2));
    let dump = screen_dump(&terminal);
    assert!(find(&terminal, 0, " 1 web  killing ").is_some(), "\n{dump}");
    assert!(
        find(&terminal, 0, " 2 db  stopping · kill in 6s ").is_some(),
        "\n{dump}"
    );
    assert!(
        row_text(&terminal, 23).contains(" stopping, kill in 6s "),
        "\n{dump}"
    );
}

#[test]
fn panes_not_started_yet_say_so_and_are_dimmed() {
    let specs = vec![
        PaneSpec::new("web", vec!["/bin/true".into()]),
        PaneSpec::new("db", vec!["/bin/true".into()]),
    ];
    let app = App::new(specs, Size::new(24, 80));
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    for (title, status) in [
        (" 1 web  not started ", "1:web"),
        (" 2 db  not started ", "2:db"),
    ] {
        assert!(find(&terminal, 0, title).is_some(), "{title}\n{dump}");
        let x = find(&terminal, 23, status).unwrap();
        assert!(
            cell(&terminal, x, 23).modifier.contains(Modifier::DIM),
            "{status}"
        );
    }
}

#[test]
fn a_zoomed_pane_fills_the_panes_area_alone() {
    let mut app = app(&["web", "db"], 80, 24);
    output(&app, 1, b"only-in-db");
    prefix(&mut app, 'o');
    prefix(&mut app, 'z');
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    assert_eq!(cell(&terminal, 0, 0).symbol(), "┏", "\n{dump}");
    assert_eq!(cell(&terminal, 79, 22).symbol(), "┛", "\n{dump}");
    assert!(
        find(&terminal, 0, "2 db").is_some_and(|x| x < 10),
        "\n{dump}"
    );
    assert!(find(&terminal, 0, "1 web").is_none(), "\n{dump}");
    assert_eq!(find(&terminal, 1, "only-in-db"), Some(1), "\n{dump}");
}

// --- screen contents --------------------------------------------------------

#[test]
fn the_alternate_screen_is_what_is_drawn() {
    let app = app(&["vim"], 40, 8);
    output(&app, 0, b"shell prompt");
    output(&app, 0, b"\x1b[?1049h\x1b[H\x1b[2Jfull-screen app");
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    assert_eq!(find(&terminal, 1, "full-screen app"), Some(1), "\n{dump}");
    assert!(!dump.contains("shell prompt"), "\n{dump}");

    output(&app, 0, b"\x1b[?1049l");
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    assert_eq!(find(&terminal, 1, "shell prompt"), Some(1), "\n{dump}");
    assert!(!dump.contains("full-screen app"), "\n{dump}");
}

#[test]
fn long_output_stays_inside_its_pane_and_off_the_status_line() {
    let app = app(&["one", "two"], 30, 8);
    // Pane 1 is 13 × 5 inside: each 27-character line wraps onto three rows,
    // and ten of them scroll the screen.
    let mut bytes = Vec::new();
    for row in 0..10 {
        bytes.extend_from_slice(format!("{row}abcdefghijklmnopqrstuvwxyz\r\n").as_bytes());
    }
    output(&app, 0, &bytes);
    output(&app, 1, b"RIGHT");
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    let expected = [
        "┃z            ┃│RIGHT        │",
        "┃9abcdefghijkl┃│             │",
        "┃mnopqrstuvwxy┃│             │",
        "┃z            ┃│             │",
        "┃             ┃│             │",
        "┗━━━━━━━━━━━━━┛└─────────────┘",
    ];
    for (y, line) in (1..).zip(expected) {
        assert_eq!(row_text(&terminal, y), line, "row {y}\n{dump}");
    }
    assert!(row_text(&terminal, 7).starts_with(" 1:one "), "\n{dump}");
}

// --- help overlay -----------------------------------------------------------

#[test]
fn the_help_overlay_lists_every_key() {
    let mut app = app(&["web", "db"], 80, 24);
    output(&app, 0, b"text under the overlay");
    prefix(&mut app, '?');
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    assert!(dump.contains("keys · any key closes"), "\n{dump}");
    for (key, what) in KEY_HELP {
        let row = (0..23)
            .find(|&y| find(&terminal, y, key).is_some())
            .unwrap_or_else(|| panic!("{key} is not listed\n{dump}"));
        let text = row_text(&terminal, row);
        let after_key = &text[text.find(key).unwrap() + key.len()..];
        assert!(
            after_key.trim_start().starts_with(what),
            "{key} is not followed by {what:?}: {text:?}\n{dump}"
        );
        let x = find(&terminal, row, key).unwrap();
        assert_eq!(cell(&terminal, x, row).fg, Color::Cyan, "{key}");
    }

    press(&mut app, KeyCode::Char('x'), KeyModifiers::NONE);
    let dump = screen_dump(&draw(&app));
    assert!(!dump.contains("any key closes"), "closed\n{dump}");
}

// --- sizes ----------------------------------------------------------------

#[test]
fn tiny_terminals_draw_without_panicking() {
    let sizes = [(0, 0), (1, 1), (2, 2), (1, 80), (80, 1), (5, 3), (12, 4)];
    for (cols, rows) in sizes {
        for panes in [1, 2, 5] {
            for help in [false, true] {
                let names: Vec<String> = (0..panes).map(|i| format!("pane{i}")).collect();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let mut app = app(&names, cols, rows);
                output(
                    &app,
                    0,
                    "漢字 wide 😀 and a long line of text\r\nmore".as_bytes(),
                );
                if help {
                    prefix(&mut app, '?');
                }
                let mut terminal = draw(&app);
                if terminal.backend().cursor_visible() {
                    let at = terminal.get_cursor_position().unwrap();
                    assert!(
                        at.x < cols && at.y + 1 < rows,
                        "cursor {at:?} outside the panes on {cols} × {rows}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_frame_smaller_or_larger_than_the_app_knows_draws_without_panicking() {
    // A frame can be drawn after the terminal changed size but before the
    // Resize event reached the app.
    let mut app = app(&["web", "db", "logs"], 80, 24);
    for pane in 0..3 {
        output(
            &app,
            pane,
            "漢字 wide text that fills the line\r\n"
                .repeat(30)
                .as_bytes(),
        );
    }
    for help in [false, true] {
        app.view.show_help = help;
        for (cols, rows) in [(10, 5), (40, 30), (200, 60), (1, 1)] {
            let terminal = draw_at(&app, cols, rows, Instant::now());
            if cols >= 10 {
                let status = row_text(&terminal, rows - 1);
                assert!(
                    status.starts_with(" 1:web "),
                    "the status line is on the frame's last row at {cols} × {rows}: {status:?}"
                );
            }
        }
    }
}

// --- scroll mode ------------------------------------------------------------

#[test]
fn scroll_mode_draws_history_with_its_colours_and_highlights_matches() {
    // One pane on 40 × 8: 5 rows inside the border, above the status line.
    let mut app = app(&["log"], 40, 8);
    output(&app, 0, b"\x1b[31merror\x1b[0m: disk full\r\n");
    for i in 1..=20 {
        output(&app, 0, format!("line {i}\r\n").as_bytes());
    }
    prefix(&mut app, '[');
    for _ in 0..30 {
        press(&mut app, KeyCode::Char('k'), KeyModifiers::NONE);
    }
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    // At the very top: the first line, its colour kept from the history.
    assert!(
        row_text(&terminal, 1).starts_with("┃error: disk full"),
        "\n{dump}"
    );
    assert_eq!(cell(&terminal, 1, 1).fg, Color::Red, "\n{dump}");
    assert_eq!(cell(&terminal, 6, 1).fg, Color::Reset, "\n{dump}");
    assert!(find(&terminal, 0, "[scroll 17/17]").is_some(), "\n{dump}");
    // Search forwards for line 1x: every match in view is highlighted, the
    // one under the cursor more so.
    press(&mut app, KeyCode::Char('?'), KeyModifiers::NONE);
    for c in "line 1.".chars() {
        press(&mut app, KeyCode::Char(c), KeyModifiers::NONE);
    }
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    let row_of = |text: &str| {
        (1..6)
            .find(|&y| row_text(&terminal, y).starts_with(&format!("┃{text} ")))
            .unwrap_or_else(|| panic!("{text} not in view\n{dump}"))
    };
    let current = row_of("line 10");
    let other = row_of("line 11");
    assert_eq!(
        cell(&terminal, 1, current).bg,
        Color::LightMagenta,
        "\n{dump}"
    );
    assert_eq!(
        cell(&terminal, 7, current).bg,
        Color::LightMagenta,
        "\n{dump}"
    );
    assert_eq!(cell(&terminal, 1, other).bg, Color::Yellow, "\n{dump}");
    assert_eq!(
        cell(&terminal, 8, other).bg,
        Color::Reset,
        "past the match\n{dump}"
    );
    // The cursor sits on the current match.
    assert_eq!(
        terminal.backend().cursor_position(),
        Position::new(1, current)
    );
}

#[test]
fn a_selection_in_scroll_mode_is_highlighted_cell_by_cell() {
    let mut app = app(&["log"], 40, 8);
    output(&app, 0, b"alpha beta\r\ngamma");
    prefix(&mut app, '[');
    // The cursor starts where the program's is: row 1, column 5.
    press(&mut app, KeyCode::Char('v'), KeyModifiers::NONE);
    press(&mut app, KeyCode::Char('k'), KeyModifiers::NONE);
    let terminal = draw(&app);
    let dump = screen_dump(&terminal);
    // From alpha's column 5 (the space) to the end of row 0, then row 1 up
    // to column 5.
    assert_eq!(cell(&terminal, 5, 1).bg, Color::Reset, "\n{dump}");
    assert_eq!(cell(&terminal, 6, 1).bg, Color::LightBlue, "\n{dump}");
    assert_eq!(cell(&terminal, 38, 1).bg, Color::LightBlue, "\n{dump}");
    assert_eq!(cell(&terminal, 1, 2).bg, Color::LightBlue, "\n{dump}");
    assert_eq!(cell(&terminal, 6, 2).bg, Color::LightBlue, "\n{dump}");
    assert_eq!(cell(&terminal, 7, 2).bg, Color::Reset, "\n{dump}");
    press(&mut app, KeyCode::Char('y'), KeyModifiers::NONE);
    assert_eq!(app.view.clipboard, [" beta\ngamma"]);
}

#[test]
fn an_unnamed_pane_shows_its_program_title_cut_to_fit() {
    let specs = vec![PaneSpec::shell("exec my-server --port 80")];
    let mut app = App::new(specs, Size::new(8, 30));
    app.start();
    output(&app, 0, b"\x1b]2;a very long title from the program\x07");
    let terminal = draw(&app);
    let top = row_text(&terminal, 0);
    // Half the 30-column border: 15 columns, the last one an ellipsis.
    assert!(top.contains(" 1 a very long ti… "), "{top:?}");
    // A name the user gave wins.
    app.session.panes[0].spec.named = true;
    let terminal = draw(&app);
    assert!(
        row_text(&terminal, 0).contains(" 1 exec "),
        "{:?}",
        row_text(&terminal, 0)
    );
}

/// Bytes written for the terminal, shared with whoever reads them.
#[derive(Clone, Default)]
struct Sink(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A terminal drawn frame over frame, as opmux draws its own: each frame
/// over the last, sending only what changed, through crossterm into a
/// terminal emulator that shows what a terminal would.
struct Painted {
    painter: Painter,
    backend: ratatui::backend::CrosstermBackend<Sink>,
    sink: Sink,
    terminal: vt100::Parser,
    cache: FrameCache,
}

impl Painted {
    fn new(cols: u16, rows: u16) -> Self {
        let sink = Sink::default();
        Self {
            painter: Painter::new(Size::new(rows, cols)),
            backend: ratatui::backend::CrosstermBackend::new(sink.clone()),
            sink,
            terminal: vt100::Parser::new(nonzero(rows), nonzero(cols), 0),
            cache: FrameCache::default(),
        }
    }

    /// Draws a frame of `app` and returns the screen as text.
    fn frame(&mut self, app: &App, now: Instant) -> String {
        if self.painter.size() != app.session.size {
            self.painter.resize(app.session.size);
            self.terminal.set_size(
                nonzero(app.session.size.rows),
                nonzero(app.session.size.cols),
            );
        }
        let cache = &mut self.cache;
        self.painter
            .draw(&mut self.backend, |canvas| {
                opmux::ui::render_cached(canvas, &app.session, &app.view, now, cache)
            })
            .unwrap();
        let bytes = std::mem::take(&mut *self.sink.0.borrow_mut());
        self.terminal.process(&bytes);
        let screen = self.terminal.screen();
        screen
            .rows(0, screen.size().1.get())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn cell(&self, x: u16, y: u16) -> &vt100::Cell {
        self.terminal.screen().cell(y, x).unwrap()
    }

    /// Where the cursor shows, if it does.
    fn cursor(&self) -> Option<Position> {
        let screen = self.terminal.screen();
        let (row, col) = screen.cursor_position();
        (!screen.hide_cursor()).then_some(Position::new(col, row))
    }
}

fn nonzero(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).unwrap()
}

/// How vt100 reads a colour crossterm sent for `color`.
fn as_received(color: Color) -> vt100::Color {
    let named = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    match color {
        Color::Reset => vt100::Color::Default,
        Color::Indexed(i) => vt100::Color::Idx(i),
        Color::Rgb(r, g, b) => vt100::Color::Rgb(r, g, b),
        named_color => {
            vt100::Color::Idx(named.iter().position(|c| *c == named_color).unwrap() as u8)
        }
    }
}

/// The first cell where the terminal `painted` shows something else than
/// the fresh frame `fresh` holds, as (x, y, shown, expected).
fn first_difference(painted: &Painted, fresh: &Buffer) -> Option<(u16, u16, String, String)> {
    for y in 0..fresh.area.height {
        for (x, symbol) in row_cells(fresh, y) {
            let want = &fresh[(x, y)];
            let got = painted.cell(x, y);
            let symbol = if symbol == " " { "" } else { symbol };
            let modifier = want.modifier;
            // A blank is a space or nothing, as written or not.
            let text = if got.contents() == " " {
                ""
            } else {
                got.contents()
            };
            // On a blank the foreground shows only inverted or underlined.
            let fg_shows = !symbol.is_empty()
                || modifier.intersects(Modifier::REVERSED | Modifier::UNDERLINED);
            let same = text == symbol
                && (!fg_shows || got.fgcolor() == as_received(want.fg))
                && got.bgcolor() == as_received(want.bg)
                && got.bold() == modifier.contains(Modifier::BOLD)
                && got.dim() == modifier.contains(Modifier::DIM)
                && got.italic() == modifier.contains(Modifier::ITALIC)
                && got.underline() == modifier.contains(Modifier::UNDERLINED)
                && got.inverse() == modifier.contains(Modifier::REVERSED);
            if !same {
                return Some((x, y, format!("{got:?}"), format!("{want:?}")));
            }
        }
    }
    None
}

#[test]
fn drawings_kept_between_frames_follow_every_change() {
    let mut app = app(&["one", "two"], 80, 24);
    let mut painted = Painted::new(80, 24);
    let now = Instant::now();
    output(&app, 1, b"steady");
    painted.frame(&app, now);
    // New output in one pane; the other pane is drawn as it was.
    output(&app, 0, b"ab\r\ncd");
    let second = painted.frame(&app, now);
    assert!(
        second.contains("cd") && second.contains("steady"),
        "{second}"
    );
    assert_eq!(painted.cursor(), Some(Position::new(3, 2)));
    // The same text in another colour is a change too; untouched rows stay.
    output(&app, 0, b"\x1b[2;1H\x1b[31mcd\x1b[m");
    painted.frame(&app, now);
    assert_eq!(painted.cell(1, 2).fgcolor(), vt100::Color::Idx(1));
    assert_eq!(painted.cell(1, 1).contents(), "a");
    // A wide character over two narrow ones.
    output(&app, 0, "\x1b[1;1H世".as_bytes());
    let wide = painted.frame(&app, now);
    assert!(wide.contains("世"), "{wide}");
    assert_eq!(painted.cell(1, 2).fgcolor(), vt100::Color::Idx(1));
    // Focus moves: the cursor goes with it though neither screen changed.
    prefix(&mut app, 'o');
    painted.frame(&app, now);
    assert_eq!(painted.cursor(), Some(Position::new(47, 1)));
    // A resize changes the rectangles: everything is drawn again.
    app.update(Event::Resize(Size::new(24, 60)), Instant::now());
    let resized = painted.frame(&app, now);
    assert!(
        resized.contains("cd") && resized.contains("steady"),
        "{resized}"
    );
    assert_eq!(
        first_difference(&painted, draw(&app).backend().buffer()),
        None
    );
}

/// A small pseudo-random generator (xorshift), so a failing sequence can be
/// replayed from its seed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % sides as u64) as usize
    }
}

#[test]
fn frames_drawn_over_the_last_show_what_a_fresh_frame_shows() {
    // Output that redraws a row, moves the cursor, scrolls, wraps, clears,
    // colours, sets a title, writes wide and combining characters, and
    // control sequences cut anywhere (the chunks are cut at random).
    let outputs: &[&[u8]] = &[
        b"x",
        b"hello",
        b"\r\n",
        b"\r",
        b"\x08",
        b"\n",
        b"a long line that wraps past the edge of a narrow pane for sure",
        b"\x1b[31mred\x1b[m",
        b"\x1b[2J\x1b[H",
        b"\x1b[3;5H",
        b"\x1b[K",
        b"\x1b[7minverse\x1b[27m",
        b"\x1b]0;title\x07",
        "世界".as_bytes(),
        "e\u{301}".as_bytes(),
        "\u{301}".as_bytes(),
        b"\t|",
        b"\x1b[?25l",
        b"\x1b[?25h",
        b"\x1b[2;4r",
        b"\x1b[r",
        b"\x1b[?1049h",
        b"\x1b[?1049l",
        b"\x1b[L",
        b"\x1b[M",
        b"\xc2\x9b2J",
        // To the right edge or near it, and to the bottom row.
        b"\x1b[99C",
        b"\x1b[99C\x1b[3D",
        b"\x1b[99B",
    ];
    for seed in 1..=12u64 {
        let mut dice = Dice(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut app = app(&["one", "two", "three"], 70, 20);
        let mut painted = Painted::new(70, 20);
        let now = Instant::now();
        // Output waiting to be fed, cut at random points.
        let mut pending: Vec<(usize, Vec<u8>)> = Vec::new();
        for step in 0..150 {
            let what = dice.roll(20);
            match what {
                0 => prefix(&mut app, 'o'),
                1 => prefix(&mut app, 'z'),
                2 => prefix(&mut app, '?'),
                3 => {
                    let (cols, rows) = [(70, 20), (50, 16), (90, 12)][dice.roll(3)];
                    app.update(Event::Resize(Size::new(rows, cols)), now);
                }
                4 => prefix(&mut app, '['),
                5 => press(&mut app, KeyCode::Esc, KeyModifiers::NONE),
                _ => {
                    let pane = dice.roll(3);
                    let mut bytes = outputs[dice.roll(outputs.len())].to_vec();
                    if let Some(i) = pending.iter().position(|(p, _)| *p == pane) {
                        let (_, mut rest) = pending.remove(i);
                        rest.append(&mut bytes);
                        bytes = rest;
                    }
                    let cut = dice.roll(bytes.len() + 1);
                    output(&app, pane, &bytes[..cut]);
                    pending.push((pane, bytes[cut..].to_vec()));
                }
            }
            let incremental = painted.frame(&app, now);
            let fresh = draw_at(&app, app.session.size.cols, app.session.size.rows, now);
            if let Some((x, y, got, want)) = first_difference(&painted, fresh.backend().buffer()) {
                panic!(
                    "seed {seed}, step {step} (action {what}): drawn over the last frame, \
                     ({x}, {y}) shows {got}, not {want}\n{incremental}\nfresh\n{}",
                    screen_dump(&fresh)
                );
            }
            let mut fresh_backend = fresh.backend().clone();
            let at = fresh_backend.get_cursor_position().unwrap();
            assert_eq!(
                painted.cursor(),
                fresh_backend.cursor_visible().then_some(at),
                "seed {seed}, step {step}: the cursor"
            );
        }
    }
}

/// Holds a pane's screen on another thread, as its parser does under a
/// flood, and feeds it output on request while holding it.
struct Holder {
    feed: std::sync::mpsc::Sender<Option<&'static [u8]>>,
    fed: std::sync::mpsc::Receiver<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Holder {
    fn hold(app: &App, index: usize) -> Self {
        let screen = app.session.panes[index].screen.clone();
        let (feed, orders) = std::sync::mpsc::channel::<Option<&'static [u8]>>();
        let (done, fed) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut guard = screen.lock();
            done.send(()).unwrap();
            // Let go on `None`, or when the test is gone.
            // A regression that waits for the lock fails once this gives up.
            while let Ok(Some(bytes)) = orders.recv_timeout(Duration::from_secs(30)) {
                guard.process(bytes);
                done.send(()).unwrap();
            }
        });
        fed.recv().unwrap();
        Self { feed, fed, thread }
    }

    fn process(&self, bytes: &'static [u8]) {
        self.feed.send(Some(bytes)).unwrap();
        self.fed.recv().unwrap();
    }

    fn release(self) {
        self.feed.send(None).unwrap();
        self.thread.join().unwrap();
    }
}

#[test]
fn a_pane_whose_parser_holds_its_screen_is_drawn_without_waiting() {
    let app = app(&["quiet", "flood"], 80, 12);
    output(&app, 1, b"before");
    let mut painted = Painted::new(80, 12);
    let now = Instant::now();
    let frame = |painted: &mut Painted| painted.frame(&app, now);
    // Never drawn and busy: the frame does not wait (the lock is not
    // reentrant, so waiting would hang here); the border shows, the screen
    // not yet.
    let holder = Holder::hold(&app, 1);
    let first = frame(&mut painted);
    assert!(first.contains("2 flood"), "{first}");
    assert!(!first.contains("before"), "{first}");
    // The parser leaves a copy after its next output, and that is drawn.
    holder.process(b" after");
    let second = frame(&mut painted);
    assert!(second.contains("before after"), "{second}");
    // One copy per frame that asked: output after it waits for the next.
    holder.process(b" more");
    holder.process(b" most");
    let third = frame(&mut painted);
    assert!(third.contains("before after more"), "{third}");
    assert!(!third.contains("most"), "{third}");
    // No copy since: drawn as last seen.
    let kept = painted.terminal.screen().contents_formatted();
    frame(&mut painted);
    assert_eq!(painted.terminal.screen().contents_formatted(), kept);
    // Free again: drawn as it is now.
    holder.release();
    let free = frame(&mut painted);
    assert!(free.contains("before after more most"), "{free}");
    assert!(free.contains("quiet"), "{free}");
}

#[test]
fn a_pane_in_a_synchronized_update_is_drawn_once_the_update_ends() {
    let app = app(&["sync", "other"], 80, 12);
    output(&app, 0, b"old-frame");
    let mut painted = Painted::new(80, 12);
    let cache_held = |painted: &mut Painted, now: Instant| {
        let text = painted.frame(&app, now);
        (text, painted.cache.held_until())
    };
    let now = Instant::now();
    let (first, held) = cache_held(&mut painted, now);
    assert!(first.contains("old-frame"), "{first}");
    assert_eq!(held, None, "nothing held, no wake-up");
    // The program begins an update and is half-way through it.
    output(&app, 0, b"\x1b[?2026h\x1b[2J\x1b[Hnew-");
    output(&app, 1, b"elsewhere");
    let since = app.session.panes[0]
        .published
        .synchronized_since()
        .expect("the screen publishes the update");
    let (during, held) = cache_held(&mut painted, since);
    assert!(during.contains("old-frame"), "{during}");
    assert!(!during.contains("new-"), "{during}");
    // Other panes are drawn as usual.
    assert!(during.contains("elsewhere"), "{during}");
    assert_eq!(held, Some(since + opmux::ui::SYNC_LIMIT));
    // It ends the update: drawn whole, the rows the update changed too.
    output(&app, 0, b"frame\x1b[?2026l");
    let (after, held) = cache_held(&mut painted, since);
    assert!(after.contains("new-frame"), "{after}");
    assert!(!after.contains("old-frame"), "{after}");
    assert_eq!(held, None);
}

#[test]
fn a_synchronized_update_that_never_ends_is_drawn_after_the_limit() {
    let app = app(&["sync"], 80, 12);
    output(&app, 0, b"old-frame");
    let mut painted = Painted::new(80, 12);
    painted.frame(&app, Instant::now());
    output(&app, 0, b"\x1b[?2026h\r\x1b[Knew-frame");
    let since = app.session.panes[0].published.synchronized_since().unwrap();
    let held = painted.frame(&app, since + opmux::ui::SYNC_LIMIT - millis(1));
    assert!(held.contains("old-frame"), "{held}");
    let due = painted.frame(&app, since + opmux::ui::SYNC_LIMIT);
    assert!(due.contains("new-frame"), "{due}");
    assert_eq!(painted.cache.held_until(), None);
    // Still in the update, output goes on being drawn as it comes.
    output(&app, 0, b" more");
    let late = painted.frame(&app, since + opmux::ui::SYNC_LIMIT + millis(1));
    assert!(late.contains("new-frame more"), "{late}");
}

#[test]
fn frames_are_sent_as_synchronized_updates() {
    let app = app(&["one"], 40, 8);
    let sink = Sink::default();
    let mut backend = ratatui::backend::CrosstermBackend::new(sink.clone());
    let mut painter = Painter::new(app.session.size);
    let mut cache = FrameCache::default();
    let now = Instant::now();
    let mut frame = |app: &App| {
        painter
            .draw(&mut backend, |canvas| {
                opmux::ui::render_cached(canvas, &app.session, &app.view, now, &mut cache)
            })
            .unwrap();
        std::mem::take(&mut *sink.0.borrow_mut())
    };
    let first = frame(&app);
    output(&app, 0, b"hello");
    let second = frame(&app);
    for bytes in [first, second] {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        assert!(text.starts_with("\x1b[?2026h"), "{text:?}");
        assert!(text.ends_with("\x1b[?2026l"), "{text:?}");
        assert_eq!(text.matches("\x1b[?2026").count(), 2, "{text:?}");
    }
}

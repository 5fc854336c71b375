//! End to end, working inside panes: scroll mode and its search, mouse
//! selection copied with OSC 52, panes opened, renamed and closed at
//! runtime, layouts, and titles programs set. The real binary on a PTY,
//! its screen read through a vt100 parser.

mod common;

use common::{Opmux, alive, eventually, marker, sleepers};

const PREFIX: &[u8] = b"\x02";
const PAGE_UP: &[u8] = b"\x1b[5~";

/// Whether a row shows `number` as a whole word (not inside a longer one).
fn shows_number(row: &str, number: &str) -> bool {
    row.split(|c: char| !c.is_ascii_digit())
        .any(|w| w == number)
}

/// The text of each row between the pane borders, for a layout where one
/// pane spans the whole width.
fn inner_rows(s: &vt100::Screen) -> Vec<String> {
    let (_, cols) = s.size();
    s.rows(0, cols.get())
        .map(|r| {
            r.trim_matches(|c: char| c == ' ' || "│┃".contains(c))
                .to_string()
        })
        .collect()
}

#[test]
fn a_search_in_scroll_mode_brings_the_line_into_view() {
    let mut opmux = Opmux::start(&["-n", "count", "seq 1 5000; exec sleep 60"], 24, 80);
    opmux.wait_for("the last line", |s| {
        s.rows(0, 80).any(|r| shows_number(&r, "5000"))
    });
    assert!(
        !opmux.with_screen(|s| s.rows(0, 80).any(|r| shows_number(&r, "4321"))),
        "4321 is on screen before the search:\n{}",
        opmux.text()
    );
    opmux.send(PREFIX);
    opmux.send(b"[");
    opmux.wait_text("[scroll 0/");
    opmux.send(b"/4321\r");
    opmux.wait_for("line 4321 in view", |s| {
        s.rows(1, 80).take(22).any(|r| shows_number(&r, "4321"))
    });
    // The live view comes back with q.
    opmux.send(b"q");
    opmux.wait_for("the live view", |s| {
        !s.contents().contains("[scroll") && s.rows(0, 80).any(|r| shows_number(&r, "5000"))
    });
}

#[test]
fn page_up_reaches_the_first_line_of_the_output() {
    let mut opmux = Opmux::start(&["-n", "count", "seq 1 2000; exec sleep 60"], 24, 80);
    opmux.wait_for("the last line", |s| {
        s.rows(0, 80).any(|r| shows_number(&r, "2000"))
    });
    opmux.send(PREFIX);
    opmux.send(b"[");
    // 2,000 lines at 22 rows a page need 91 pages; more stop at the top.
    for _ in 0..100 {
        opmux.send(PAGE_UP);
    }
    opmux.wait_for("lines 1 and 2 at the top of the pane", |s| {
        let rows: Vec<String> = s.rows(0, 80).collect();
        shows_number(&rows[1], "1") && shows_number(&rows[2], "2")
    });
    // At the top, the position reads N/N: all of the history is above.
    opmux.wait_for("the position at the top", |s| {
        let text = s.contents();
        let Some(at) = text.find("[scroll ") else {
            return false;
        };
        let rest = &text[at + 8..];
        let end = rest.find(']').unwrap_or(0);
        let (above, total) = rest[..end].split_once('/').unwrap_or(("", "-"));
        above == total
    });
}

#[test]
fn the_wheel_scrolls_back_and_forth_and_leaves_at_the_bottom() {
    let mut opmux = Opmux::start(&["-n", "count", "seq 1 300; exec sleep 60"], 24, 80);
    opmux.wait_for("the last line", |s| {
        s.rows(0, 80).any(|r| shows_number(&r, "300"))
    });
    opmux.wheel(10, 10, true, 4);
    opmux.wait_text("[scroll 12/");
    opmux.wheel(10, 10, false, 4);
    opmux.wait_for("the live view", |s| !s.contents().contains("[scroll"));
}

#[test]
fn a_mouse_drag_copies_the_text_with_osc_52() {
    let mut opmux = Opmux::start(
        &["-n", "words", "echo alpha beta gamma; exec sleep 60"],
        24,
        80,
    );
    opmux.wait_text("alpha beta gamma");
    // The pane's text starts at column 1, row 1; "beta" is columns 7 to 10.
    opmux.drag((7, 1), &[(8, 1), (10, 1)]);
    opmux.wait_clipboard("beta");
    // Over two lines, and backwards.
    let mut opmux = Opmux::start(
        &[
            "-n",
            "words",
            "printf 'one two\\nthree four\\n'; exec sleep 60",
        ],
        24,
        80,
    );
    opmux.wait_text("three four");
    opmux.drag((5, 2), &[(3, 1), (5, 1)]);
    opmux.wait_clipboard("two\nthree");
}

#[test]
fn scroll_mode_v_and_y_copy_from_the_cursor() {
    let mut opmux = Opmux::start(
        &["-n", "words", "echo copy-me-please; exec sleep 60"],
        24,
        80,
    );
    opmux.wait_text("copy-me-please");
    opmux.send(PREFIX);
    opmux.send(b"[");
    opmux.wait_text("[scroll 0/");
    // The cursor starts on the prompt's row, below the echo: up, home, select
    // seven columns, copy.
    opmux.send(b"k0v");
    for _ in 0..6 {
        opmux.send(b"l");
    }
    opmux.send(b"y");
    opmux.wait_clipboard("copy-me");
    opmux.wait_for("the live view", |s| !s.contents().contains("[scroll"));
}

#[test]
fn prefix_c_runs_a_typed_command_in_a_new_pane() {
    let mut opmux = Opmux::start(
        &["--layout", "rows", "-n", "first", "exec sleep 60"],
        24,
        80,
    );
    opmux.wait_row(&["1 first", "running"]);
    opmux.send(PREFIX);
    opmux.send(b"c");
    opmux.wait_text("run:");
    opmux.send(b"echo hi\r");
    opmux.wait_row(&["2 echo"]);
    opmux.wait_for("hi alone on a row of the new pane", |s| {
        inner_rows(s).iter().any(|r| r == "hi")
    });
}

#[test]
fn prefix_ampersand_removes_a_pane_and_its_processes() {
    let keep = marker("close-keep");
    let gone = marker("close-gone");
    let mut opmux = Opmux::start(
        &[
            "--layout",
            "rows",
            "-n",
            "keep",
            "-n",
            "gone",
            &format!("exec sleep 1000.{keep}"),
            &format!("sleep 1000.{gone} & exec sleep 1000.{gone}"),
        ],
        24,
        80,
    );
    opmux.wait_row(&["2 gone", "running"]);
    eventually("both sleepers of the second pane started", || {
        sleepers(&gone).len() == 2
    });
    let doomed = sleepers(&gone);
    opmux.send(PREFIX);
    opmux.send(b"2");
    opmux.send(PREFIX);
    opmux.send(b"&");
    opmux.wait_for("the second pane removed", |s| {
        !s.contents().contains("gone") && s.contents().contains("1 keep")
    });
    eventually("the second pane's processes gone", || {
        doomed.iter().all(|&pid| !alive(pid))
    });
    assert_eq!(sleepers(&keep).len(), 1, "the other pane was touched");
    // The remaining pane has the whole height again: its bottom border sits
    // just above the status line.
    opmux.wait_for("one pane over the whole height", |s| {
        let rows: Vec<String> = s.rows(0, 80).collect();
        rows[22].starts_with('┗') || rows[22].starts_with('└')
    });
}

#[test]
fn prefix_comma_renames_the_focused_pane() {
    let mut opmux = Opmux::start(&["-n", "before", "exec sleep 60"], 24, 80);
    opmux.wait_row(&["1 before", "running"]);
    opmux.send(PREFIX);
    opmux.send(b",");
    opmux.wait_text("rename:");
    // C-u clears the old name first.
    opmux.send(b"\x15after\r");
    opmux.wait_row(&["1 after", "running"]);
}

/// The row of each of `titles` on the pane borders (the status line, the
/// last row, left out), `None` for a title not drawn.
fn title_rows(s: &vt100::Screen, titles: &[&str]) -> Vec<Option<usize>> {
    let (rows, cols) = s.size();
    let borders: Vec<String> = s
        .rows(0, cols.get())
        .take(usize::from(rows.get()) - 1)
        .collect();
    titles
        .iter()
        .map(|title| borders.iter().position(|r| r.contains(title)))
        .collect()
}

#[test]
fn prefix_space_cycles_the_layouts() {
    let titles = ["1 one", "2 two", "3 three"];
    let mut opmux = Opmux::start(
        &[
            "-n",
            "one",
            "-n",
            "two",
            "-n",
            "three",
            "exec sleep 60",
            "exec sleep 60",
            "exec sleep 60",
        ],
        24,
        80,
    );
    // Where each pane's title row is on 23 rows above the status line, in
    // each layout of three panes: tiled puts two in the first row and the
    // third below them (rows 12 and 11 high), rows stacks them (8, 8 and
    // 7 high), columns sets them side by side.
    let tiled = [Some(0), Some(0), Some(12)];
    let steps = [
        ("tiled", tiled),
        ("rows", [Some(0), Some(8), Some(16)]),
        ("columns", [Some(0), Some(0), Some(0)]),
        ("tiled again", tiled),
    ];
    for (i, (layout, expected)) in steps.into_iter().enumerate() {
        if i > 0 {
            opmux.send(PREFIX);
            opmux.send(b" ");
        }
        opmux.wait_for(&format!("the {layout} layout"), |s| {
            title_rows(s, &titles) == expected
        });
    }
}

#[test]
fn a_title_the_program_sets_is_shown_without_its_control_characters() {
    // An OSC 2 title with a C1 control in it (U+009B, a CSI in one
    // character), which must not reach the outer terminal.
    let opmux = Opmux::start(
        &["printf '\\033]2;safe\\302\\233title\\007'; exec sleep 60"],
        24,
        80,
    );
    opmux.wait_row(&["1 safetitle", "running"]);
    let top = opmux.with_screen(|s| s.rows(0, 80).next().unwrap_or_default());
    assert!(
        top.chars().all(|c| !c.is_control()),
        "control characters in the title row: {top:?}"
    );
    // A name given by the user wins over the program's title.
    let named = Opmux::start(
        &[
            "-n",
            "mine",
            "printf '\\033]2;theirs\\007'; echo title-set; exec sleep 60",
        ],
        24,
        80,
    );
    named.wait_text("title-set");
    named.wait_row(&["1 mine", "running"]);
    assert!(!named.text().contains("theirs"), "{}", named.text());
    drop(opmux);
}

#[test]
fn sigterm_right_after_a_flood_leaves_every_line_in_the_log() {
    let scratch = common::Scratch::new("tui-flood-term");
    let dir = scratch.0.to_string_lossy().into_owned();
    let done = scratch.0.join("done");
    let pane = format!("seq 1 500000; touch {}; exec sleep 1000", done.display());
    let mut opmux = Opmux::start(&["--log-dir", &dir, "-n", "flood", &pane], 24, 80);
    eventually("the flood to end", || done.exists());
    nix::sys::signal::kill(opmux.pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(opmux.wait_exit(), 128 + 15);
    common::assert_numbered(&scratch.lines("flood.log"), 500_000);
}

/// Whether some row between the borders shows exactly `text`.
fn shows_row(s: &vt100::Screen, text: &str) -> bool {
    inner_rows(s).iter().any(|r| r == text)
}

#[test]
fn numbered_lines_come_back_after_the_terminal_shrinks_and_grows() {
    let opmux = Opmux::start(&["-n", "count", "seq 1 30; exec sleep 60"], 40, 80);
    let all_shown = |s: &vt100::Screen| (1..=30).all(|n| shows_row(s, &n.to_string()));
    opmux.wait_for("1 to 30 on screen", all_shown);
    opmux.resize(8, 20);
    // Drawn at the small size: the pane's bottom border 20 columns wide.
    opmux.wait_for("the last lines in the small pane", |s| {
        let bottom = s.rows(0, 20).nth(6).unwrap_or_default();
        bottom.starts_with('┗')
            && bottom.ends_with('┛')
            && shows_row(s, "30")
            && !shows_row(s, "20")
    });
    opmux.resize(40, 80);
    opmux.wait_for("1 to 30 back on screen", all_shown);
}

#[test]
fn a_long_line_comes_back_whole_after_a_pane_opens_and_closes() {
    let line: String = (10..=64).map(|n| n.to_string()).collect();
    assert_eq!(line.len(), 110);
    let mut opmux = Opmux::start(&["-n", "long", "seq -s '' 10 64; exec sleep 60"], 24, 120);
    opmux.wait_for("the whole line on one row", |s| shows_row(s, &line));
    opmux.send(PREFIX);
    opmux.send(b"c");
    opmux.wait_text("run:");
    opmux.send(b"exec sleep 60\r");
    // Side by side, the line wraps in the first pane.
    opmux.wait_row(&["1 long", "2 exec"]);
    opmux.wait_for("the line wrapped in half a screen", |s| {
        let rows = inner_rows(s);
        !rows.iter().any(|r| r.contains(&line)) && rows.iter().any(|r| r.starts_with(&line[..40]))
    });
    // The new pane has the focus.
    opmux.send(PREFIX);
    opmux.send(b"&");
    opmux.wait_for("the second pane gone", |s| !s.contents().contains("2 exec"));
    opmux.wait_for("the whole line on one row again", |s| shows_row(s, &line));
}

//! Pure geometry: where each pane goes, and which pane lies in a direction.

use ratatui::layout::Rect;

pub use crate::config::LayoutKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Left,
    Right,
    Up,
    Down,
}

/// Tiles `n` panes in a grid of ceil(sqrt(n)) columns. Rows share the height
/// evenly; a last row with fewer panes shares the full width among them, as
/// tmux's tiled layout does, so no cell is left empty.
pub fn tiles(n: usize, area: Rect) -> Vec<Rect> {
    if n == 0 {
        return Vec::new();
    }
    let cols = (n as f64).sqrt().ceil() as usize;
    let row_count = n.div_ceil(cols);
    rows(row_count, area)
        .into_iter()
        .enumerate()
        .flat_map(|(row, rect)| {
            let in_row = if row + 1 == row_count {
                n - cols * (row_count - 1)
            } else {
                cols
            };
            columns(in_row, rect)
        })
        .collect()
}

/// Splits `total` cells into `parts` sizes that differ by one at most, the
/// larger ones first.
fn split(total: u16, parts: usize) -> Vec<u16> {
    let parts_u16 = parts as u16;
    let base = total / parts_u16;
    let extra = (total % parts_u16) as usize;
    (0..parts).map(|i| base + u16::from(i < extra)).collect()
}

/// Stacks `n` panes one above the other, each the full width.
pub fn rows(n: usize, area: Rect) -> Vec<Rect> {
    let mut y = area.y;
    split(area.height, n.max(1))
        .into_iter()
        .take(n)
        .map(|height| {
            let rect = Rect::new(area.x, y, area.width, height);
            y += height;
            rect
        })
        .collect()
}

/// Puts `n` panes side by side, each the full height.
pub fn columns(n: usize, area: Rect) -> Vec<Rect> {
    let mut x = area.x;
    split(area.width, n.max(1))
        .into_iter()
        .take(n)
        .map(|width| {
            let rect = Rect::new(x, area.y, width, area.height);
            x += width;
            rect
        })
        .collect()
}

/// Each pane's rectangle in the chosen layout, or `None` for a pane hidden
/// by another's zoom.
pub fn arrange(n: usize, area: Rect, zoomed: Option<usize>, kind: LayoutKind) -> Vec<Option<Rect>> {
    match zoomed {
        Some(z) if z < n => (0..n).map(|i| (i == z).then_some(area)).collect(),
        _ => match kind {
            LayoutKind::Tiled => tiles(n, area),
            LayoutKind::Rows => rows(n, area),
            LayoutKind::Columns => columns(n, area),
        }
        .into_iter()
        .map(Some)
        .collect(),
    }
}

/// The area inside a pane's one-cell border.
pub fn inner(rect: Rect) -> Rect {
    Rect::new(
        rect.x.saturating_add(1),
        rect.y.saturating_add(1),
        rect.width.saturating_sub(2),
        rect.height.saturating_sub(2),
    )
}

/// The nearest visible pane in `dir` from pane `from`: among the panes wholly on
/// that side that overlap it across the direction, the closest; ties go to
/// the one whose centre is nearest, then to the lower number.
pub fn neighbour(rects: &[Option<Rect>], from: usize, dir: Direction) -> Option<usize> {
    let origin = (*rects.get(from)?)?;
    let centre = |r: Rect| {
        (
            2 * r.x as i32 + r.width as i32,
            2 * r.y as i32 + r.height as i32,
        )
    };
    let overlap = |a0: u16, a1: u16, b0: u16, b1: u16| a1.min(b1) as i32 - a0.max(b0) as i32;
    rects
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, (*r)?)))
        .filter(|&(i, _)| i != from)
        .filter_map(|(i, r)| {
            let (gap, shared) = match dir {
                Direction::Right => (
                    r.x as i32 - origin.right() as i32,
                    overlap(r.y, r.bottom(), origin.y, origin.bottom()),
                ),
                Direction::Left => (
                    origin.x as i32 - r.right() as i32,
                    overlap(r.y, r.bottom(), origin.y, origin.bottom()),
                ),
                Direction::Down => (
                    r.y as i32 - origin.bottom() as i32,
                    overlap(r.x, r.right(), origin.x, origin.right()),
                ),
                Direction::Up => (
                    origin.y as i32 - r.bottom() as i32,
                    overlap(r.x, r.right(), origin.x, origin.right()),
                ),
            };
            (gap >= 0 && shared > 0).then(|| {
                let (cx, cy) = centre(r);
                let (ox, oy) = centre(origin);
                (gap, (cx - ox).abs() + (cy - oy).abs(), i)
            })
        })
        .min()
        .map(|(_, _, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AREA: Rect = Rect {
        x: 0,
        y: 0,
        width: 80,
        height: 23,
    };

    #[test]
    fn grid_shapes_follow_the_square_root() {
        // (panes, expected rects as (x, y, w, h))
        type Case = (usize, &'static [(u16, u16, u16, u16)]);
        let cases: &[Case] = &[
            (1, &[(0, 0, 80, 23)]),
            (2, &[(0, 0, 40, 23), (40, 0, 40, 23)]),
            (3, &[(0, 0, 40, 12), (40, 0, 40, 12), (0, 12, 80, 11)]),
            (
                4,
                &[
                    (0, 0, 40, 12),
                    (40, 0, 40, 12),
                    (0, 12, 40, 11),
                    (40, 12, 40, 11),
                ],
            ),
            (
                5,
                &[
                    (0, 0, 27, 12),
                    (27, 0, 27, 12),
                    (54, 0, 26, 12),
                    (0, 12, 40, 11),
                    (40, 12, 40, 11),
                ],
            ),
        ];
        for (n, expected) in cases {
            let got: Vec<_> = tiles(*n, AREA)
                .iter()
                .map(|r| (r.x, r.y, r.width, r.height))
                .collect();
            assert_eq!(&got, expected, "{n} panes");
        }
    }

    #[test]
    fn tiles_cover_the_area_without_overlap_for_many_counts() {
        for n in 1..=40 {
            for area in [
                AREA,
                Rect::new(0, 0, 1, 1),
                Rect::new(3, 2, 7, 5),
                Rect::new(0, 0, 0, 0),
            ] {
                let rects = tiles(n, area);
                assert_eq!(rects.len(), n);
                let cells: u32 = rects.iter().map(|r| r.width as u32 * r.height as u32).sum();
                assert_eq!(
                    cells,
                    area.width as u32 * area.height as u32,
                    "{n} panes in {area:?}"
                );
                for (i, a) in rects.iter().enumerate() {
                    assert!(
                        area.union(*a) == area || a.area() == 0,
                        "{a:?} escapes {area:?}"
                    );
                    for b in &rects[i + 1..] {
                        assert!(a.intersection(*b).area() == 0, "{a:?} overlaps {b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn zoom_shows_only_the_zoomed_pane_full_size() {
        let got = arrange(3, AREA, Some(1), LayoutKind::Tiled);
        assert_eq!(got, vec![None, Some(AREA), None]);
        // A zoomed pane that is not there (closed meanwhile) hides nothing.
        for zoomed in [2, 9] {
            assert_eq!(
                arrange(2, AREA, Some(zoomed), LayoutKind::Tiled),
                [
                    Some(Rect::new(0, 0, 40, 23)),
                    Some(Rect::new(40, 0, 40, 23))
                ]
            );
        }
    }

    #[test]
    fn neighbours_in_a_grid() {
        let rects = arrange(4, AREA, None, LayoutKind::Tiled);
        assert_eq!(neighbour(&rects, 0, Direction::Right), Some(1));
        assert_eq!(neighbour(&rects, 0, Direction::Down), Some(2));
        assert_eq!(neighbour(&rects, 3, Direction::Up), Some(1));
        assert_eq!(neighbour(&rects, 3, Direction::Left), Some(2));
        assert_eq!(neighbour(&rects, 0, Direction::Left), None);
        assert_eq!(neighbour(&rects, 0, Direction::Up), None);
    }

    /// Checks every pane of `n` tiled panes on [`AREA`] in every direction
    /// against `table`: per pane (numbered from 1, as the status line does),
    /// the pane to its left, right, above and below, 0 for none.
    fn assert_neighbours(n: usize, table: &[[usize; 4]]) {
        assert_eq!(table.len(), n);
        let rects = arrange(n, AREA, None, LayoutKind::Tiled);
        let dirs = [
            Direction::Left,
            Direction::Right,
            Direction::Up,
            Direction::Down,
        ];
        for (from, row) in table.iter().enumerate() {
            for (dir, &expected) in dirs.into_iter().zip(row) {
                let got = neighbour(&rects, from, dir).map_or(0, |i| i + 1);
                assert_eq!(got, expected, "{n} panes: {dir:?} from pane {}", from + 1);
            }
        }
    }

    #[test]
    fn neighbours_of_three_tiled_panes() {
        // 1 2
        // 3 3    Up from 3: 1 and 2 are as near; the lower number wins.
        assert_neighbours(3, &[[0, 2, 0, 3], [1, 0, 0, 3], [0, 0, 1, 0]]);
    }

    #[test]
    fn neighbours_of_five_tiled_panes() {
        // 1 2 3
        // 4  5      Down from 2 and Up from 5 overlap two panes each: the
        //           one whose centre is nearest wins.
        assert_neighbours(
            5,
            &[
                [0, 2, 0, 4],
                [1, 3, 0, 5],
                [2, 0, 0, 5],
                [0, 5, 1, 0],
                [4, 0, 3, 0],
            ],
        );
    }

    #[test]
    fn neighbours_of_seven_tiled_panes() {
        // 1 2 3
        // 4 5 6
        //   7      Up from 7: the middle pane, under its centre. Down from
        //          1 to 3: the next row, not 7 below it.
        assert_neighbours(
            7,
            &[
                [0, 2, 0, 4],
                [1, 3, 0, 5],
                [2, 0, 0, 6],
                [0, 5, 1, 7],
                [4, 6, 2, 7],
                [5, 0, 3, 7],
                [0, 0, 5, 0],
            ],
        );
    }

    #[test]
    fn panes_that_only_touch_at_a_corner_are_not_neighbours() {
        let rects = [
            Some(Rect::new(0, 0, 10, 10)),
            Some(Rect::new(10, 10, 10, 10)),
        ];
        for dir in [
            Direction::Left,
            Direction::Right,
            Direction::Up,
            Direction::Down,
        ] {
            assert_eq!(neighbour(&rects, 0, dir), None, "{dir:?}");
            assert_eq!(neighbour(&rects, 1, dir), None, "{dir:?}");
        }
    }

    #[test]
    fn a_tie_goes_to_the_centre_nearest_across_and_along() {
        // Both touch the top of the wide pane 0. Pane 1 sits right above its
        // centre but reaches far up; pane 2 is off to the side but small and
        // close: 12 + 7 cells from pane 0's centre against 0 + 25.
        let rects = [
            Some(Rect::new(0, 40, 100, 10)),
            Some(Rect::new(40, 0, 20, 40)),
            Some(Rect::new(60, 36, 4, 4)),
        ];
        assert_eq!(neighbour(&rects, 0, Direction::Up), Some(2));
        // Along the side: both touch the right of pane 0, whose centre is
        // 10 rows down; pane 2's is 14 down (4 away), pane 1's 4 (6 away).
        let rects = [
            Some(Rect::new(0, 0, 10, 20)),
            Some(Rect::new(10, 0, 10, 8)),
            Some(Rect::new(10, 8, 10, 12)),
        ];
        assert_eq!(neighbour(&rects, 0, Direction::Right), Some(2));
        assert_eq!(neighbour(&rects, 2, Direction::Left), Some(0));
    }

    #[test]
    fn hidden_panes_are_never_neighbours() {
        let rects = arrange(3, AREA, Some(1), LayoutKind::Tiled);
        assert_eq!(neighbour(&rects, 1, Direction::Left), None);
        assert_eq!(neighbour(&rects, 0, Direction::Right), None);
        assert_eq!(neighbour(&rects, 7, Direction::Right), None);
    }

    #[test]
    fn a_spanning_bottom_pane_reaches_up_to_the_first_row() {
        let rects = arrange(3, AREA, None, LayoutKind::Tiled);
        assert_eq!(neighbour(&rects, 2, Direction::Up), Some(0));
        assert_eq!(neighbour(&rects, 1, Direction::Down), Some(2));
        assert_eq!(neighbour(&rects, 2, Direction::Right), None);
    }

    #[test]
    fn rows_stack_and_columns_sit_side_by_side() {
        let got = |rects: Vec<Option<Rect>>| -> Vec<(u16, u16, u16, u16)> {
            rects
                .into_iter()
                .flatten()
                .map(|r| (r.x, r.y, r.width, r.height))
                .collect()
        };
        assert_eq!(
            got(arrange(3, AREA, None, LayoutKind::Rows)),
            [(0, 0, 80, 8), (0, 8, 80, 8), (0, 16, 80, 7)]
        );
        assert_eq!(
            got(arrange(3, AREA, None, LayoutKind::Columns)),
            [(0, 0, 27, 23), (27, 0, 27, 23), (54, 0, 26, 23)]
        );
        let rects = arrange(3, AREA, None, LayoutKind::Rows);
        assert_eq!(neighbour(&rects, 0, Direction::Down), Some(1));
        assert_eq!(neighbour(&rects, 0, Direction::Right), None);
        assert!(rows(0, AREA).is_empty() && columns(0, AREA).is_empty());
    }

    #[test]
    fn inner_area_never_underflows() {
        assert_eq!(inner(Rect::new(0, 0, 1, 1)).area(), 0);
        assert_eq!(inner(Rect::new(0, 0, 10, 5)), Rect::new(1, 1, 8, 3));
    }
}

//! Where the frame map goes on a framebuffer: how many frames a cell
//! shows, how big a cell is, and where each zone's heading and cells are,
//! from the zones' spans and the screen's size. Pure arithmetic; the
//! kernel's memory picture (`kernel/src/mempic.rs`) draws at these places.
//!
//! ```text
//!   y = 0        rows above the picture (top_px: the status line)
//!   title_y      title, one text row
//!   legend_y     legend: NR_CLASSES entries, legend_cols to a row
//!   heading_y    "Node 0 DMA ..." heading, one text row       } per zone,
//!                rows of cols cells, cell_px pixels each       } in address
//!                2 pixels of gap                               } order
//!   ...
//!                at least min_log_rows text rows left to the log
//! ```
//!
//! Every column starts at `x0`, half a text cell in from the left edge, and
//! the picture keeps the same margin on the right.

use alloc::vec::Vec;

use super::{NR_CLASSES, smallest_pages_per_cell};

/// Cell sizes tried for each frames-per-cell, biggest first (pixels).
const CELL_PX: [usize; 6] = [8, 6, 5, 4, 3, 2];
/// The coarsest cell tried: 2^20 frames (4 GiB).
const MAX_PAGES_PER_CELL: u64 = 1 << 20;
/// Pixels between the last row of a zone and the next heading.
const ZONE_GAP_PX: usize = 2;

/// The screen the picture goes on, and what else must fit on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Screen {
    pub width_px: usize,
    pub height_px: usize,
    /// Size of a text cell (width, height) in pixels.
    pub text_cell: (usize, usize),
    /// Pixel rows above the picture that are not its own.
    pub top_px: usize,
    /// Width of one legend entry in text cells.
    pub legend_entry_chars: usize,
    /// Text rows always left to the log below the picture.
    pub min_log_rows: usize,
}

/// One zone's place in the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZonePlace {
    /// Pixel row of the zone's heading; its cells start one text row lower.
    pub heading_y: usize,
    /// Cells the zone takes: its span divided by the frames per cell.
    pub cells: u64,
    /// Index of the zone's first cell among all the picture's cells.
    pub first_cell: usize,
}

/// The geometry of the picture on a screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScreenLayout {
    /// Frames per cell (a power of two).
    pub pages_per_cell: u64,
    /// Cell pitch in pixels, both ways.
    pub cell_px: usize,
    /// Cells per row.
    pub cols: usize,
    /// Left edge of the title, legend, headings and cells.
    pub x0: usize,
    pub title_y: usize,
    pub legend_y: usize,
    /// Legend entries per text row.
    pub legend_cols: usize,
    /// One per zone, in the order of the spans given.
    pub zones: Vec<ZonePlace>,
    /// From `title_y` to below the last zone's gap.
    pub height_px: usize,
}

impl ScreenLayout {
    /// Fit the zones (`spans`: frames each zone spans, in address order)
    /// onto `screen` below `top_px`: the smallest frames-per-cell, then
    /// the biggest cells, that leave `min_log_rows` text rows to the log.
    /// `None` when even the coarsest cells do not fit.
    pub fn plan(spans: &[u64], screen: &Screen) -> Option<ScreenLayout> {
        let (cw, ch) = screen.text_cell;
        if cw == 0 || ch == 0 {
            return None;
        }
        let x0 = cw / 2;
        let usable_w = screen.width_px.saturating_sub(2 * x0);
        let avail = (screen.height_px / ch).saturating_sub(screen.min_log_rows) * ch;
        let legend_cols = (usable_w / cw / screen.legend_entry_chars.max(1)).max(1);
        let legend_rows = NR_CLASSES.div_ceil(legend_cols);
        let fixed = screen.top_px + ch * (1 + legend_rows) + spans.len() * (ch + ZONE_GAP_PX);
        let (ppc, px, cols) = smallest_pages_per_cell(MAX_PAGES_PER_CELL, |ppc| {
            CELL_PX.iter().find_map(|&px| {
                let cols = usable_w / px;
                if cols == 0 {
                    return None;
                }
                let rows: usize = spans.iter().map(|&s| cell_rows(s.div_ceil(ppc), cols)).sum();
                (fixed + rows * px <= avail).then_some((ppc, px, cols))
            })
        })?;
        let title_y = screen.top_px;
        let legend_y = title_y + ch;
        let mut y = legend_y + legend_rows * ch;
        let mut first_cell = 0;
        let mut zones = Vec::with_capacity(spans.len());
        for &span in spans {
            let cells = span.div_ceil(ppc);
            zones.push(ZonePlace { heading_y: y, cells, first_cell });
            first_cell += cells as usize;
            y += ch + cell_rows(cells, cols) * px + ZONE_GAP_PX;
        }
        Some(ScreenLayout {
            pages_per_cell: ppc,
            cell_px: px,
            cols,
            x0,
            title_y,
            legend_y,
            legend_cols,
            zones,
            height_px: y - title_y,
        })
    }

    /// Cells in the whole picture.
    pub fn nr_cells(&self) -> usize {
        self.zones.iter().map(|z| z.cells as usize).sum()
    }
}

/// Rows that `cells` cells take at `cols` to a row.
fn cell_rows(cells: u64, cols: usize) -> usize {
    (cells as usize).div_ceil(cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The framebuffer QEMU gives the bootloader: 1280x800, 7x18 text
    /// cells, the status line on top, as the kernel's picture sees it.
    const QEMU_SCREEN: Screen = Screen {
        width_px: 1280,
        height_px: 800,
        text_cell: (7, 18),
        top_px: 18,
        legend_entry_chars: 20,
        min_log_rows: 8,
    };

    /// 128 MiB under QEMU: DMA from pfn 1, DMA32 up to the end of RAM.
    const SPANS_128M: [u64; 2] = [4095, 28640];

    fn bottom_px(l: &ScreenLayout) -> usize {
        l.title_y + l.height_px
    }

    fn log_area_px(s: &Screen) -> usize {
        (s.height_px / s.text_cell.1 - s.min_log_rows) * s.text_cell.1
    }

    /// Whether the picture with these cells would fit: the same sum as
    /// `plan`, written out per zone from the layout's rules.
    fn fits(spans: &[u64], s: &Screen, ppc: u64, px: usize) -> bool {
        let (cw, ch) = s.text_cell;
        let cols = (s.width_px - 2 * (cw / 2)) / px;
        let legend_rows = NR_CLASSES.div_ceil(((s.width_px - 2 * (cw / 2)) / cw / s.legend_entry_chars).max(1));
        let zones_px: usize = spans.iter().map(|&n| ch + (n.div_ceil(ppc) as usize).div_ceil(cols) * px + 2).sum();
        s.top_px + ch + legend_rows * ch + zones_px <= log_area_px(s)
    }

    #[test]
    fn small_machine_gets_one_frame_per_cell_in_the_biggest_cells_that_fit() {
        let l = ScreenLayout::plan(&SPANS_128M, &QEMU_SCREEN).unwrap();
        // The numbers of the `mempic: drawn cells` line of a 128 MiB boot:
        // cell=4 frames_per_cell=1 cells=32735 rect=3,126,1272,52 rect=3,198,1272,364
        assert_eq!((l.pages_per_cell, l.cell_px, l.cols, l.x0), (1, 4, 318, 3));
        assert_eq!(l.nr_cells(), 32735);
        assert_eq!((l.title_y, l.legend_y, l.legend_cols), (18, 36, 9));
        assert_eq!(l.zones[0], ZonePlace { heading_y: 108, cells: 4095, first_cell: 0 });
        assert_eq!(l.zones[1], ZonePlace { heading_y: 180, cells: 28640, first_cell: 4095 });
        assert_eq!(l.height_px, 180 + 18 + 364 + 2 - 18);
        // 5-pixel cells would not have fitted.
        assert!(fits(&SPANS_128M, &QEMU_SCREEN, 1, 4));
        assert!(!fits(&SPANS_128M, &QEMU_SCREEN, 1, 5));
    }

    #[test]
    fn fewer_frames_per_cell_win_over_bigger_cells() {
        // 6-pixel cells of 2 frames would fit, but 1 frame a cell fits too.
        assert!(fits(&SPANS_128M, &QEMU_SCREEN, 2, 6));
        let l = ScreenLayout::plan(&SPANS_128M, &QEMU_SCREEN).unwrap();
        assert_eq!(l.pages_per_cell, 1);
        // A tiny machine gets the biggest cells.
        let l = ScreenLayout::plan(&[4095], &QEMU_SCREEN).unwrap();
        assert_eq!((l.pages_per_cell, l.cell_px, l.cols), (1, 8, 159));
    }

    #[test]
    fn picture_leaves_the_log_rows_free() {
        for spans in [&SPANS_128M[..], &[4095, 1_044_480, 1_048_576], &[4095, 500_000, 1 << 22]] {
            let l = ScreenLayout::plan(spans, &QEMU_SCREEN).unwrap();
            assert!(bottom_px(&l) <= log_area_px(&QEMU_SCREEN), "{spans:?}: {l:?}");
            assert!(l.pages_per_cell.is_power_of_two());
            // Nothing finer would have fitted.
            if l.pages_per_cell > 1 {
                assert!(CELL_PX.iter().all(|&px| !fits(spans, &QEMU_SCREEN, l.pages_per_cell / 2, px)));
            }
            let last = l.zones.last().unwrap();
            let rows = (last.cells as usize).div_ceil(l.cols);
            assert_eq!(bottom_px(&l), last.heading_y + 18 + rows * l.cell_px + 2);
        }
    }

    #[test]
    fn five_gib_machine_on_640x480() {
        // QEMU -m 5G: DMA, DMA32 up to the PCI hole at 3 GiB, Normal 4-6 GiB.
        let spans = [4095, 782_304, 524_288];
        let vga = Screen { width_px: 640, height_px: 480, text_cell: (8, 16), top_px: 16, ..QEMU_SCREEN };
        let l = ScreenLayout::plan(&spans, &vga).unwrap();
        // Below a legend of 10 rows (28 classes, 3 a row): 128 frames
        // (512 KiB) a cell in 2-pixel cells, 1 + 20 + 13 rows; 64 frames a
        // cell would need 1 + 39 + 26 rows, past the log area.
        assert_eq!((l.pages_per_cell, l.cell_px, l.cols, l.x0), (128, 2, 316, 4));
        assert_eq!(l.legend_cols, 3);
        assert_eq!(l.zones.iter().map(|z| z.cells).collect::<Vec<_>>(), [32, 6112, 4096]);
        assert_eq!(l.zones.iter().map(|z| z.heading_y).collect::<Vec<_>>(), [192, 212, 270]);
        assert_eq!(bottom_px(&l), 270 + 16 + 13 * 2 + 2);
        assert!(bottom_px(&l) <= 352);
    }

    #[test]
    fn none_when_nothing_fits() {
        // Too short for the title, legend and log rows alone.
        let short = Screen { height_px: 200, ..QEMU_SCREEN };
        assert_eq!(ScreenLayout::plan(&[4095], &short), None);
        // No room for a cell between the margins.
        let narrow = Screen { width_px: 7, ..QEMU_SCREEN };
        assert_eq!(ScreenLayout::plan(&[4095], &narrow), None);
        // So many zones that their headings fill the screen.
        assert_eq!(ScreenLayout::plan(&[1; 40], &QEMU_SCREEN), None);
        assert_eq!(ScreenLayout::plan(&[1], &Screen { text_cell: (0, 0), ..QEMU_SCREEN }), None);
    }

    #[test]
    fn several_zones_stack_in_order_with_running_cell_indices() {
        // Two nodes of 64 MiB each: DMA, DMA32 on node 0, DMA32 on node 1.
        let spans = [4095, 12288, 16384];
        let l = ScreenLayout::plan(&spans, &QEMU_SCREEN).unwrap();
        assert_eq!(l.pages_per_cell, 1);
        let mut y = l.legend_y + NR_CLASSES.div_ceil(l.legend_cols) * 18;
        let mut first = 0;
        for (z, &span) in l.zones.iter().zip(&spans) {
            assert_eq!(*z, ZonePlace { heading_y: y, cells: span, first_cell: first });
            y += 18 + (span as usize).div_ceil(l.cols) * l.cell_px + 2;
            first += span as usize;
        }
        assert_eq!(bottom_px(&l), y);
        assert_eq!(l.nr_cells(), first);
    }
}

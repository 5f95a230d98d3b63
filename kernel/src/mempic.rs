//! A live picture of physical memory on the framebuffer, and the text map
//! behind /proc/mempic (the classification is `mm::frame_map`).
//!
//! ```text
//!   row 0     status line: free / total memory (arch::fbcon)
//!   title     Physical memory: totals, cell size, sweep number
//!   legend    a coloured swatch per class with its total (MiB)
//!   per zone  "Node 0 DMA32 [mem ...] free ..." then rows of cells, one
//!             cell per frame (or per 2^k frames on large machines)
//!   below     the scrolling log
//! ```
//!
//! Enabled by `mempic` on the command line or `echo 1 > /proc/mempic`;
//! `echo cgroup > /proc/mempic` colours frames by the memory cgroup they
//! are charged to instead (`mm::procfs::mempic_groups`), `echo classes`
//! goes back.
//! The picture is redrawn a slice at a time from the timer tick (a few
//! thousand frames per tick, a free block counting as one; only cells
//! whose class changed are painted),
//! so it follows allocations live without ever stalling the machine under
//! TCG; the title and legend totals are refreshed at the end of each sweep.
//!
//! After the first complete sweep (and after `echo report > /proc/mempic`,
//! at the end of the next one) one line goes to serial with what is on the
//! screen, for tests that check a screendump against it (boot's matrix key
//! `picture_tolerance=`):
//!
//! ```text
//! mempic: drawn cells sweep=1 cell=4 fill=4 frames_per_cell=1 cells=32735 rect=3,126,1272,52 rect=3,198,1272,364 free0=3:ffec50 ... hole=96:1a1a1a
//! ```
//!
//! `cell` is the cell pitch and `fill` the side of its painted square in
//! pixels, `rect=X,Y,W,H` the cell area of each zone (headings excluded),
//! and `CLASS=CELLS:RRGGBB` every class with its cells on screen and its
//! colour, so the palette has a single source.

use alloc::vec;
use alloc::vec::Vec;
use arch::fixed_str::FixedStr;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arch::fbcon::{self, Console, Rgb};
use mm::addr::PAGE_SHIFT;
use mm::frame_map::{self, ClassCounts, FrameClass, NR_CLASSES, OWNED_CLASSES, Screen, ScreenLayout};
use mm::phys::zone::ZoneType;
use mm::procfs::mempic_groups;
use spin::Mutex;

use crate::mem::page_alloc;

/// Work per timer tick: frames classified one by one, where a run of
/// frames inside one free block counts once.
const WORK_PER_TICK: u64 = 4096;
/// Text rows always left to the log below the picture.
const MIN_LOG_ROWS: usize = 8;
const BG: Rgb = Rgb(0, 0, 0);
const TEXT: Rgb = Rgb(0xd8, 0xd8, 0xd8);
const HEADING: Rgb = Rgb(0x9c, 0xc8, 0xff);

static ENABLED: AtomicBool = AtomicBool::new(false);
/// Colour frames by memory cgroup instead of by class (`echo cgroup >
/// /proc/mempic`; `echo classes` goes back); the text map follows too.
static BY_GROUP: AtomicBool = AtomicBool::new(false);
/// A memory cgroup's path by its id (installed by `proc::cgroup`, which
/// is above this module).
static GROUP_NAMES: spin::Once<fn(mm::memcg::MemcgId) -> Option<alloc::string::String>> = spin::Once::new();

/// Install the naming of memory cgroups for the group map (once).
pub fn set_group_names(f: fn(mm::memcg::MemcgId) -> Option<alloc::string::String>) {
    GROUP_NAMES.call_once(|| f);
}
static SWEEPS: AtomicU64 = AtomicU64::new(0);
static PICTURE: Mutex<Option<Picture>> = Mutex::new(None);

/// Free blocks by order: pale yellow for the fragments (order 0) through
/// greens to deep teal for whole 4 MiB blocks (order 10).
const FREE_PALETTE: [Rgb; 11] = [
    Rgb(0xff, 0xec, 0x50),
    Rgb(0xe8, 0xe2, 0x46),
    Rgb(0xd0, 0xd8, 0x46),
    Rgb(0xb4, 0xcd, 0x46),
    Rgb(0x96, 0xc3, 0x4b),
    Rgb(0x78, 0xb9, 0x50),
    Rgb(0x5a, 0xaf, 0x55),
    Rgb(0x3c, 0xa0, 0x5a),
    Rgb(0x28, 0x8c, 0x64),
    Rgb(0x1e, 0x78, 0x6e),
    Rgb(0x14, 0x5f, 0x78),
];

/// The colour of a class: free blocks by order (`FREE_PALETTE`), owners
/// in distinct hues.
pub fn colour(c: FrameClass) -> Rgb {
    match c {
        FrameClass::Free(o) => FREE_PALETTE[(o as usize).min(FREE_PALETTE.len() - 1)],
        FrameClass::Slab => Rgb(0xd0, 0x50, 0xd0),
        FrameClass::PageTable => Rgb(0xff, 0x8c, 0x1a),
        FrameClass::Anon => Rgb(0xe8, 0x3c, 0x3c),
        FrameClass::AnonActive => Rgb(0xa0, 0x10, 0x10),
        FrameClass::Unevictable => Rgb(0x70, 0x30, 0x90),
        FrameClass::SwapCache => Rgb(0xf0, 0xa0, 0x60),
        FrameClass::Writeback => Rgb(0xff, 0xe0, 0x30),
        FrameClass::File => Rgb(0x3c, 0x78, 0xf0),
        FrameClass::FileActive => Rgb(0x1c, 0x40, 0xa0),
        FrameClass::Shmem => Rgb(0x30, 0xd0, 0xe0),
        FrameClass::KernelStack => Rgb(0xff, 0xa0, 0xc8),
        FrameClass::Vmalloc => Rgb(0x8c, 0x64, 0xf0),
        FrameClass::Kernel => Rgb(0xb4, 0xb4, 0xb4),
        FrameClass::KernelImage => Rgb(0xff, 0xff, 0xff),
        FrameClass::Memmap => Rgb(0x9a, 0x64, 0x30),
        FrameClass::Reserved => Rgb(0x5a, 0x5a, 0x5a),
        FrameClass::Hole => Rgb(0x1a, 0x1a, 0x1a),
    }
}

/// A zone's place in the picture.
struct ZoneGeom {
    node: u32,
    ty: ZoneType,
    start_pfn: u64,
    end_pfn: u64,
    /// Pixel row of the zone's heading; cells start one text row lower.
    heading_y: usize,
    cells: u64,
    /// Index of the zone's first cell in `Picture::drawn`.
    first_cell: usize,
    sweep: ClassCounts,
    last: ClassCounts,
    /// Hash of the heading text on screen.
    heading_hash: u64,
}

/// Geometry and sweep state of the picture on screen.
struct Picture {
    pages_per_cell: u64,
    cell_px: usize,
    cols: usize,
    x0: usize,
    /// Pixel rows: title, legend, total height.
    title_y: usize,
    legend_y: usize,
    /// Legend entries per text row.
    legend_cols: usize,
    height_px: usize,
    text_cell: (usize, usize),
    zones: Vec<ZoneGeom>,
    /// Class index last painted per cell (`u8::MAX`: never).
    drawn: Vec<u8>,
    cursor_zone: usize,
    cursor_cell: u64,
    sweep: ClassCounts,
    last: ClassCounts,
    managed_pages: u64,
    /// Hash of the title and legend text on screen.
    header_hash: u64,
    /// Print the `mempic: drawn cells` line when the current sweep ends.
    report: bool,
}

/// Width of one legend entry in text cells: swatch, name, size.
const LEGEND_ENTRY_CHARS: usize = 20;

impl Picture {
    /// Fit the picture into the top of a `width` x `height` screen below
    /// `top_px` (the status line), leaving `MIN_LOG_ROWS` text rows to the
    /// log: the geometry is `frame_map::ScreenLayout::plan`'s.
    fn plan(width: usize, height: usize, text_cell: (usize, usize), top_px: usize) -> Option<Picture> {
        let pa = page_alloc();
        let zones = frame_map::zones_by_address(pa);
        let spans: Vec<u64> = zones.iter().map(|z| z.spanned).collect();
        let screen = Screen {
            width_px: width,
            height_px: height,
            text_cell,
            top_px,
            legend_entry_chars: LEGEND_ENTRY_CHARS,
            min_log_rows: MIN_LOG_ROWS,
        };
        let l = ScreenLayout::plan(&spans, &screen)?;
        let zones = zones
            .iter()
            .zip(&l.zones)
            .map(|(z, place)| ZoneGeom {
                node: z.node,
                ty: z.ty,
                start_pfn: z.start_pfn,
                end_pfn: z.end_pfn(),
                heading_y: place.heading_y,
                cells: place.cells,
                first_cell: place.first_cell,
                sweep: ClassCounts::default(),
                last: ClassCounts::default(),
                heading_hash: 0,
            })
            .collect();
        Some(Picture {
            pages_per_cell: l.pages_per_cell,
            cell_px: l.cell_px,
            cols: l.cols,
            x0: l.x0,
            title_y: l.title_y,
            legend_y: l.legend_y,
            legend_cols: l.legend_cols,
            height_px: l.height_px,
            text_cell,
            zones,
            drawn: vec![u8::MAX; l.nr_cells()],
            cursor_zone: 0,
            cursor_cell: 0,
            sweep: ClassCounts::default(),
            last: ClassCounts::default(),
            managed_pages: pa.nr_managed_pages(),
            header_hash: 0,
            report: true,
        })
    }

    /// Text rows (from the top of the screen) the picture needs.
    fn rows_needed(&self) -> usize {
        (self.title_y + self.height_px).div_ceil(self.text_cell.1)
    }

    fn cell_xy(&self, z: &ZoneGeom, cell: u64) -> (usize, usize) {
        let (r, c) = (cell as usize / self.cols, cell as usize % self.cols);
        (self.x0 + c * self.cell_px, z.heading_y + self.text_cell.1 + r * self.cell_px)
    }

    /// Side of a cell's painted square: large cells keep a one-pixel gap.
    fn fill_px(&self) -> usize {
        if self.cell_px >= 5 { self.cell_px - 1 } else { self.cell_px }
    }

    fn paint_cell(&self, con: &mut Console, x: usize, y: usize, c: FrameClass) {
        let s = self.fill_px();
        con.fill_rect(x, y, s, s, colour(c));
    }

    /// The `mempic: drawn cells ...` line (see the module comment): the
    /// cells on screen per class, from `drawn`, which is exactly what has
    /// been painted.
    fn write_drawn(&self, w: &mut dyn Write) -> fmt::Result {
        let mut cells = [0u64; NR_CLASSES];
        let mut undrawn = 0u64;
        for &d in &self.drawn {
            match cells.get_mut(d as usize) {
                Some(n) => *n += 1,
                None => undrawn += 1,
            }
        }
        write!(
            w,
            "mempic: drawn cells sweep={} cell={} fill={} frames_per_cell={} cells={}",
            SWEEPS.load(Ordering::Relaxed),
            self.cell_px,
            self.fill_px(),
            self.pages_per_cell,
            self.drawn.len()
        )?;
        if undrawn > 0 {
            write!(w, " undrawn={}", undrawn)?;
        }
        for z in &self.zones {
            let rows = (z.cells as usize).div_ceil(self.cols);
            let y = z.heading_y + self.text_cell.1;
            write!(w, " rect={},{},{},{}", self.x0, y, self.cols * self.cell_px, rows * self.cell_px)?;
        }
        for (i, n) in cells.iter().enumerate() {
            let c = FrameClass::from_index(i);
            let Rgb(r, g, b) = colour(c);
            match c {
                FrameClass::Free(o) => write!(w, " free{}", o)?,
                other => write!(w, " {}", other.name())?,
            }
            write!(w, "={}:{:02x}{:02x}{:02x}", n, r, g, b)?;
        }
        writeln!(w)
    }

    /// Title and legend, from the totals of the last complete sweep.
    /// Redrawn only when their text changed (`force`: always), in place:
    /// text cells overwrite themselves, so nothing flickers.
    fn draw_header(&mut self, con: &mut Console, force: bool) {
        let (cw, ch) = self.text_cell;
        let width = con.size().0;
        let mut title = FixedStr::<200>::new();
        let _ = write!(
            title,
            "Physical memory: {} managed, free {}, {} per cell  (echo 0 > /proc/mempic to hide)",
            Mib(self.managed_pages),
            Mib(self.last.free()),
            Bytes(self.pages_per_cell << PAGE_SHIFT)
        );
        let mut hash = fnv(title.as_str(), FNV_START);
        let mut entries = [(); NR_CLASSES].map(|_| FixedStr::<{ LEGEND_ENTRY_CHARS * 2 }>::new());
        for (i, t) in entries.iter_mut().enumerate() {
            let c = FrameClass::from_index(i);
            match c {
                FrameClass::Free(o) => {
                    let _ = write!(t, "free o{:<3}", o);
                }
                other => {
                    let _ = write!(t, "{:<9}", other.name());
                }
            }
            let _ = write!(t, "{:>8}", Mib(self.last.get(c)));
            hash = fnv(t.as_str(), hash);
        }
        if !force && hash == self.header_hash {
            return;
        }
        self.header_hash = hash;
        let end = con.draw_text_px(self.x0, self.title_y, title.as_str(), HEADING, BG);
        con.fill_rect(end, self.title_y, width.saturating_sub(end), ch, BG);
        for (i, t) in entries.iter().enumerate() {
            let (row, col) = (i / self.legend_cols, i % self.legend_cols);
            let (x, y) = (self.x0 + col * LEGEND_ENTRY_CHARS * cw, self.legend_y + row * ch);
            if force {
                con.fill_rect(x, y + ch / 8, cw + cw / 2, ch - ch / 4, colour(FrameClass::from_index(i)));
            }
            con.draw_text_px(x + 2 * cw, y, t.as_str(), TEXT, BG);
        }
    }

    /// A zone's heading line, redrawn only when its text changed.
    fn draw_zone_heading(&mut self, con: &mut Console, zi: usize, force: bool) {
        let ch = self.text_cell.1;
        let z = &self.zones[zi];
        let mut t = FixedStr::<256>::new();
        let _ = write!(
            t,
            "Node {} {:<6} [mem {:#011x}-{:#011x}]  free {}",
            z.node,
            z.ty.name(),
            z.start_pfn << PAGE_SHIFT,
            (z.end_pfn << PAGE_SHIFT) - 1,
            Mib(z.last.free())
        );
        for c in OWNED_CLASSES {
            let n = z.last.get(c);
            if n > 0 && c != FrameClass::Hole {
                let _ = write!(t, "  {} {}", c.name(), Mib(n));
            }
        }
        let hash = fnv(t.as_str(), FNV_START);
        if !force && hash == z.heading_hash {
            return;
        }
        let y = z.heading_y;
        self.zones[zi].heading_hash = hash;
        let end = con.draw_text_px(self.x0, y, t.as_str(), HEADING, BG);
        con.fill_rect(end, y, con.size().0.saturating_sub(end), ch, BG);
    }

    fn draw_all_static(&mut self, con: &mut Console) {
        let width = con.size().0;
        // The whole reserved band, so no half-covered log line remains.
        let band = self.rows_needed() * self.text_cell.1 - self.title_y;
        con.fill_rect(0, self.title_y, width, band, BG);
        self.draw_header(con, true);
        for zi in 0..self.zones.len() {
            self.draw_zone_heading(con, zi, true);
        }
    }

    /// Classify and paint the next `WORK_PER_TICK` runs of frames.
    fn step(&mut self, con: &mut Console) {
        let pa = page_alloc();
        let mut budget = WORK_PER_TICK;
        while budget > 0 {
            let Some(z) = self.zones.get(self.cursor_zone) else { return };
            if self.cursor_cell >= z.cells {
                // Zone done: publish its counts; the whole sweep after the last.
                let zi = self.cursor_zone;
                self.zones[zi].last = self.zones[zi].sweep;
                self.zones[zi].sweep = ClassCounts::default();
                self.draw_zone_heading(con, zi, false);
                self.cursor_zone += 1;
                self.cursor_cell = 0;
                if self.cursor_zone == self.zones.len() {
                    self.cursor_zone = 0;
                    self.last = self.sweep;
                    self.sweep = ClassCounts::default();
                    self.managed_pages = pa.nr_managed_pages();
                    SWEEPS.fetch_add(1, Ordering::Relaxed);
                    self.draw_header(con, false);
                    if self.report {
                        self.report = false;
                        // One write, so nothing interleaves with the line
                        // (about 600 bytes with two zones, 25 more a zone).
                        let mut line = FixedStr::<2048>::new();
                        let _ = self.write_drawn(&mut line);
                        arch::serial::write_str(line.as_str());
                    }
                    return;
                }
                continue;
            }
            let start = z.start_pfn + self.cursor_cell * self.pages_per_cell;
            let n = self.pages_per_cell.min(z.end_pfn - start);
            let mut counts = ClassCounts::default();
            let (class, runs) = frame_map::classify_cell_runs(&pa.memmap, start, n, &mut counts);
            let idx = z.first_cell + self.cursor_cell as usize;
            let (x, y) = self.cell_xy(z, self.cursor_cell);
            if BY_GROUP.load(Ordering::Relaxed) {
                let owner = mempic_groups::cell_owner(&pa.memmap, start, n, &mut |_| {});
                let (code, rgb) = group_colour(owner);
                if self.drawn[idx] != code {
                    self.drawn[idx] = code;
                    let s = self.fill_px();
                    con.fill_rect(x, y, s, s, rgb);
                }
            } else if self.drawn[idx] != class.index() as u8 {
                self.drawn[idx] = class.index() as u8;
                self.paint_cell(con, x, y, class);
            }
            let zi = self.cursor_zone;
            self.zones[zi].sweep.merge(&counts);
            self.sweep.merge(&counts);
            self.cursor_cell += 1;
            budget = budget.saturating_sub(runs);
        }
    }
}

/// Whether the picture is on.
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Completed sweeps since boot (tests wait for one).
pub fn sweeps() -> u64 {
    SWEEPS.load(Ordering::Relaxed)
}

/// Turn the picture on or off. Returns false when there is no framebuffer
/// or the screen is too small for any layout.
pub fn set_enabled(on: bool) -> bool {
    if !fbcon::is_present() {
        return false;
    }
    if !on {
        ENABLED.store(false, Ordering::Release);
        let old = x86_64::instructions::interrupts::without_interrupts(|| PICTURE.lock().take());
        if let Some(p) = old {
            fbcon::with_console(|con| {
                let w = con.size().0;
                con.fill_rect(0, p.title_y, w, p.rows_needed() * p.text_cell.1 - p.title_y, BG);
                con.reserve_top_rows(fbcon::status_rows());
            });
        }
        return true;
    }
    if is_enabled() {
        return true;
    }
    let geometry = fbcon::with_console(|con| (con.size(), con.cell_size()));
    let Some(((w, h), cell)) = geometry else { return false };
    let top = fbcon::status_rows() * cell.1;
    let Some(p) = Picture::plan(w, h, cell, top) else {
        log::warn!("mempic: a {}x{} screen is too small for the memory picture", w, h);
        return false;
    };
    log::info!(
        "mempic: {} cells of {} px, {} frame(s) per cell, {} text rows",
        p.drawn.len(),
        p.cell_px,
        p.pages_per_cell,
        p.rows_needed()
    );
    let mut p = p;
    x86_64::instructions::interrupts::without_interrupts(|| {
        fbcon::with_console(|con| {
            con.reserve_top_rows(p.rows_needed());
            p.draw_all_static(con);
        });
        *PICTURE.lock() = Some(p);
    });
    ENABLED.store(true, Ordering::Release);
    true
}

/// Advance the picture by one slice (`WORK_PER_TICK` runs of frames) now.
pub fn step() {
    if !is_enabled() {
        return;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        let Some(mut guard) = PICTURE.try_lock() else { return };
        let Some(p) = guard.as_mut() else { return };
        fbcon::try_with_console(|con| p.step(con));
    });
}

/// Timer-tick hook: the status line (rate-limited inside fbcon) and one
/// slice of the picture.
pub fn tick() {
    fbcon::refresh_status();
    step();
}

/// The status line: free and total memory.
fn status_line(w: &mut dyn fmt::Write) {
    let Some(pa) = crate::mem::try_page_alloc() else { return };
    let up = arch::time::uptime_ns() / 100_000_000;
    let _ = write!(
        w,
        "mmkernel   free {} / {}   up {}.{} s   {}",
        Mib(pa.nr_free_pages()),
        Mib(pa.nr_managed_pages()),
        up / 10,
        up % 10,
        if is_enabled() {
            "memory picture on (echo 0 > /proc/mempic)"
        } else {
            "echo 1 > /proc/mempic: memory picture"
        }
    );
}

/// The groups' colours: twelve hues by group id; free frames dark,
/// frames charged to no group grey. Codes for `drawn` start past the
/// classes' indexes, so a switch of mode repaints every cell.
const GROUP_PALETTE: [Rgb; 12] = [
    Rgb(0xe6, 0x19, 0x4b),
    Rgb(0x3c, 0xb4, 0x4b),
    Rgb(0xff, 0xe1, 0x19),
    Rgb(0x43, 0x63, 0xd8),
    Rgb(0xf5, 0x82, 0x31),
    Rgb(0x91, 0x1e, 0xb4),
    Rgb(0x46, 0xf0, 0xf0),
    Rgb(0xf0, 0x32, 0xe6),
    Rgb(0xbc, 0xf6, 0x0c),
    Rgb(0xfa, 0xbe, 0xbe),
    Rgb(0x00, 0x80, 0x80),
    Rgb(0x9a, 0x63, 0x24),
];

fn group_colour(o: mempic_groups::CellOwner) -> (u8, Rgb) {
    use mempic_groups::CellOwner;
    let base = NR_CLASSES as u8;
    match o {
        CellOwner::Hole => (base, BG),
        CellOwner::Free => (base + 1, Rgb(0x20, 0x28, 0x30)),
        CellOwner::Uncharged => (base + 2, Rgb(0x70, 0x70, 0x70)),
        CellOwner::Group(id) => {
            let i = id as usize % GROUP_PALETTE.len();
            (base + 3 + i as u8, GROUP_PALETTE[i])
        }
    }
}

/// `pub` for /proc/mempic: the text map of every frame (by class, or by
/// memory cgroup after `echo cgroup > /proc/mempic`).
pub fn render_text(out: &mut dyn fmt::Write) -> fmt::Result {
    if BY_GROUP.load(Ordering::Relaxed) {
        let names = GROUP_NAMES.get().copied().unwrap_or(|_| None);
        return mempic_groups::render(page_alloc(), &names, out);
    }
    mm::procfs::mempic::render(page_alloc(), out)
}

/// /proc/mempic writes: "1" (or "on") shows the picture, "0" ("off")
/// hides it, "cgroup" colours frames by memory cgroup (picture and text
/// map), "classes" by class again, "report" prints the `mempic: drawn cells` line on serial at
/// the end of the next sweep; anything else is EINVAL, and ENODEV when
/// there is no framebuffer (or it is too small) to draw on, or no picture
/// to report on.
pub fn write_control(text: &str) -> Result<(), abi::errno::Errno> {
    let on = match text.trim() {
        "1" | "on" => true,
        "0" | "off" => false,
        "cgroup" | "classes" => {
            BY_GROUP.store(text.trim() == "cgroup", Ordering::Relaxed);
            return Ok(());
        }
        "report" => {
            let asked = x86_64::instructions::interrupts::without_interrupts(|| {
                PICTURE.lock().as_mut().map(|p| p.report = true).is_some()
            });
            return if asked { Ok(()) } else { Err(abi::errno::ENODEV) };
        }
        _ => return Err(abi::errno::EINVAL),
    };
    if set_enabled(on) { Ok(()) } else { Err(abi::errno::ENODEV) }
}

/// Boot: the status line, and with `mempic` on the command line the text
/// map on serial and the picture on the framebuffer.
pub fn init() {
    if fbcon::is_present() {
        fbcon::set_status_hook(status_line);
    }
    if crate::cmdline::get().has("mempic") {
        arch::serial::write_str("mempic: physical memory at boot (cat /proc/mempic for a fresh one):\n");
        let _ = render_text(&mut SerialWriter);
        if !set_enabled(true) {
            log::warn!("mempic: no framebuffer picture (no framebuffer, or too small)");
        }
    }
}

/// The serial port alone, as a `fmt::Write`.
struct SerialWriter;

impl fmt::Write for SerialWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        arch::serial::write_str(s);
        Ok(())
    }
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `s`, continuing from `h`.
fn fnv(s: &str, h: u64) -> u64 {
    s.bytes().fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// A page count as MiB with one decimal.
struct Mib(u64);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kib = self.0 << (PAGE_SHIFT - 10);
        let mut b = FixedStr::<32>::new();
        let _ = write!(b, "{}.{}M", kib / 1024, (kib % 1024) * 10 / 1024);
        f.pad(b.as_str())
    }
}

/// A byte size as `4 KiB` / `2 MiB`.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1 << 20 { write!(f, "{} MiB", self.0 >> 20) } else { write!(f, "{} KiB", self.0 >> 10) }
    }
}

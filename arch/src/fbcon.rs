//! Framebuffer text console.
//!
//! A real machine usually has no serial port, so the log is mirrored here.
//! Glyphs come pre-rasterised from the Noto Sans Mono bitmap font (16 px);
//! each pixel is an intensity that is blended into the foreground colour.
//! When the cursor falls off the bottom the console scrolls by a quarter of
//! the screen at once ("jump scroll"), so the expensive screen copy happens
//! once every few lines instead of on every line.
//!
//! The top `reserved_rows` text rows can be claimed by other views (the
//! status line, the memory picture); the console scrolls only below them.
//!
//! ```text
//!   row 0            status line (free memory), when the kernel set a hook
//!   rows 1..k        the memory picture, while it is on (kernel/src/mempic.rs)
//!   rows k..         the scrolling log
//! ```
//!
//! Screens wider than 2000 pixels (4K monitors, most laptops' panels at
//! native resolution) get the font scaled 2x so the text stays readable.
//! Log levels have colours: errors red, warnings yellow, info the default,
//! debug and trace dimmed.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use bootloader_api::info::{FrameBufferInfo, PixelFormat};
use log::Level;
use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};
use spin::Mutex;

use crate::time;

const FONT_WEIGHT: FontWeight = FontWeight::Regular;
const FONT_HEIGHT: RasterHeight = RasterHeight::Size16;
/// Extra pixels between lines.
const LINE_SPACING: usize = 2;
/// Screens wider than this get a 2x font.
const SCALE_2X_WIDTH: usize = 2000;

/// An RGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

pub const WHITE: Rgb = Rgb(0xd0, 0xd0, 0xd0);
pub const BLACK: Rgb = Rgb(0, 0, 0);

/// Character-cell console over a linear framebuffer.
pub struct Console {
    buffer: &'static mut [u8],
    info: FrameBufferInfo,
    col: usize,
    row: usize,
    fg: Rgb,
    /// Text rows at the top that belong to other views.
    reserved_rows: usize,
    /// Font scale (1, or 2 on wide screens).
    scale: usize,
}

impl Console {
    fn cell_width(&self) -> usize {
        get_raster_width(FONT_WEIGHT, FONT_HEIGHT) * self.scale
    }

    fn cell_height(&self) -> usize {
        (FONT_HEIGHT.val() + LINE_SPACING) * self.scale
    }

    /// Size of one text cell in pixels (width, height).
    pub fn cell_size(&self) -> (usize, usize) {
        (self.cell_width(), self.cell_height())
    }

    fn cols(&self) -> usize {
        self.info.width / self.cell_width()
    }

    fn rows(&self) -> usize {
        self.info.height / self.cell_height()
    }

    /// The bytes of one pixel of colour `c` in the framebuffer's format.
    fn pixel_bytes(&self, c: Rgb) -> [u8; 4] {
        match self.info.pixel_format {
            PixelFormat::Rgb => [c.0, c.1, c.2, 0],
            PixelFormat::Bgr => [c.2, c.1, c.0, 0],
            PixelFormat::U8 => [((c.0 as u16 + c.1 as u16 + c.2 as u16) / 3) as u8, 0, 0, 0],
            _ => [c.2, c.1, c.0, 0],
        }
    }

    /// Write one pixel. Coordinates outside the screen are ignored.
    pub fn put_pixel(&mut self, x: usize, y: usize, c: Rgb) {
        if x >= self.info.width || y >= self.info.height {
            return;
        }
        let bpp = self.info.bytes_per_pixel;
        let at = (y * self.info.stride + x) * bpp;
        let px = self.pixel_bytes(c);
        let n = bpp.min(4);
        if let Some(dst) = self.buffer.get_mut(at..at + n) {
            dst.copy_from_slice(&px[..n]);
        }
    }

    /// Fill a rectangle (clipped to the screen). The pixel value is
    /// computed once and copied row by row.
    pub fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, c: Rgb) {
        let (x_end, y_end) = ((x + w).min(self.info.width), (y + h).min(self.info.height));
        if x >= x_end || y >= y_end {
            return;
        }
        let bpp = self.info.bytes_per_pixel;
        let n = bpp.min(4);
        let px = self.pixel_bytes(c);
        for yy in y..y_end {
            let row_start = (yy * self.info.stride + x) * bpp;
            let row_end = (yy * self.info.stride + x_end) * bpp;
            let Some(row) = self.buffer.get_mut(row_start..row_end) else { return };
            for dst in row.chunks_exact_mut(bpp) {
                dst[..n].copy_from_slice(&px[..n]);
            }
        }
    }

    /// Draw `ch` with its top-left corner at pixel (x, y), at the
    /// console's font scale; the line spacing below it is filled with `bg`.
    pub fn draw_char(&mut self, x: usize, y: usize, ch: char, fg: Rgb, bg: Rgb) {
        let raster = get_raster(ch, FONT_WEIGHT, FONT_HEIGHT).or_else(|| get_raster('?', FONT_WEIGHT, FONT_HEIGHT));
        let Some(raster) = raster else { return };
        let s = self.scale;
        for (dy, row) in raster.rows().enumerate() {
            for (dx, &v) in row.iter().enumerate() {
                let mix = |f: u8, b: u8| ((f as u16 * v as u16 + b as u16 * (255 - v as u16)) / 255) as u8;
                let c = Rgb(mix(fg.0, bg.0), mix(fg.1, bg.1), mix(fg.2, bg.2));
                if s == 1 {
                    self.put_pixel(x + dx, y + dy, c);
                } else {
                    self.fill_rect(x + dx * s, y + dy * s, s, s, c);
                }
            }
        }
        let (w, h) = (raster.width() * s, raster.height() * s);
        self.fill_rect(x, y + h, w, self.cell_height().saturating_sub(h), bg);
    }

    /// Draw a string with its top-left corner at pixel (x, y); stops at the
    /// right edge. Returns the x after the last character drawn.
    pub fn draw_text_px(&mut self, x: usize, y: usize, s: &str, fg: Rgb, bg: Rgb) -> usize {
        let cw = self.cell_width();
        let mut x = x;
        for ch in s.chars() {
            if x + cw > self.info.width {
                break;
            }
            self.draw_char(x, y, ch, fg, bg);
            x += cw;
        }
        x
    }

    fn newline(&mut self) {
        self.col = 0;
        self.row += 1;
        if self.row >= self.rows() {
            self.scroll();
        }
    }

    fn scroll(&mut self) {
        let rows = self.rows();
        let top = self.reserved_rows.min(rows.saturating_sub(1));
        let scrollable = rows - top;
        let by = (scrollable / 4).max(1);
        let line_bytes = self.info.stride * self.info.bytes_per_pixel * self.cell_height();
        let start = top * line_bytes;
        let end = rows * line_bytes;
        self.buffer.copy_within(start + by * line_bytes..end, start);
        let clear_from = end - by * line_bytes;
        self.buffer[clear_from..end].fill(0);
        self.row = rows - by;
    }

    fn write_char(&mut self, ch: char) {
        match ch {
            '\n' => self.newline(),
            '\r' => self.col = 0,
            // Backspace moves left (a terminal's erase is "\x08 \x08").
            '\x08' => self.col = self.col.saturating_sub(1),
            '\t' => {
                for _ in 0..(8 - self.col % 8) {
                    self.write_char(' ');
                }
            }
            ch => {
                if self.col >= self.cols() {
                    self.newline();
                }
                let (x, y) = (self.col * self.cell_width(), self.row * self.cell_height());
                self.draw_char(x, y, ch, self.fg, BLACK);
                self.col += 1;
            }
        }
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (usize, usize) {
        (self.info.width, self.info.height)
    }

    /// Text grid size (columns, rows).
    pub fn grid(&self) -> (usize, usize) {
        (self.cols(), self.rows())
    }

    /// Text rows at the top kept out of the scrolling area.
    pub fn reserved_rows(&self) -> usize {
        self.reserved_rows
    }

    /// Keep the top `rows` text rows out of the scrolling area (at least
    /// four rows always stay for the log).
    pub fn reserve_top_rows(&mut self, rows: usize) {
        self.reserved_rows = rows.min(self.rows().saturating_sub(4));
        if self.row < self.reserved_rows {
            self.row = self.reserved_rows;
            self.col = 0;
        }
    }
}

static CONSOLE: Mutex<Option<Console>> = Mutex::new(None);

/// Take over the bootloader's framebuffer and clear it.
pub fn init(buffer: &'static mut [u8], info: FrameBufferInfo) {
    buffer.fill(0);
    let scale = if info.width > SCALE_2X_WIDTH { 2 } else { 1 };
    *CONSOLE.lock() = Some(Console { buffer, info, col: 0, row: 0, fg: WHITE, reserved_rows: 0, scale });
}

/// Point the console at a new mapping of the same framebuffer (after the
/// kernel switched page tables).
///
/// # Safety
/// `ptr` must map the framebuffer's `byte_len` bytes, writable, for the rest
/// of the run.
pub unsafe fn relocate(ptr: *mut u8) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(con) = CONSOLE.lock().as_mut() {
            let len = con.buffer.len();
            // SAFETY: forwarded from the caller.
            con.buffer = unsafe { core::slice::from_raw_parts_mut(ptr, len) };
        }
    });
}

/// Whether a framebuffer console exists.
pub fn is_present() -> bool {
    CONSOLE.lock().is_some()
}

/// Write text at the cursor.
pub fn write_str(s: &str) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(con) = CONSOLE.lock().as_mut() {
            for ch in s.chars() {
                con.write_char(ch);
            }
        }
    });
}

/// Pick the text colour for a log level.
pub fn set_level_colour(level: Level) {
    let fg = match level {
        Level::Error => Rgb(0xff, 0x55, 0x55),
        Level::Warn => Rgb(0xff, 0xcc, 0x44),
        Level::Info => WHITE,
        Level::Debug => Rgb(0x80, 0x80, 0x90),
        Level::Trace => Rgb(0x60, 0x60, 0x60),
    };
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(con) = CONSOLE.lock().as_mut() {
            con.fg = fg;
        }
    });
}

/// Run `f` with the console locked (for views that draw on it).
pub fn with_console<R>(f: impl FnOnce(&mut Console) -> R) -> Option<R> {
    x86_64::instructions::interrupts::without_interrupts(|| CONSOLE.lock().as_mut().map(f))
}

/// `with_console`, but gives up instead of waiting when the console is in
/// use (for interrupt handlers).
pub fn try_with_console<R>(f: impl FnOnce(&mut Console) -> R) -> Option<R> {
    x86_64::instructions::interrupts::without_interrupts(|| CONSOLE.try_lock().and_then(|mut c| c.as_mut().map(f)))
}

/// Writes the status line's text (installed by the kernel, so that arch
/// needs nothing from mm).
pub type StatusHook = fn(&mut dyn fmt::Write);

static STATUS_HOOK: spin::Once<StatusHook> = spin::Once::new();
static STATUS_LAST_NS: AtomicU64 = AtomicU64::new(0);
/// Shortest time between two redraws of the status line.
const STATUS_PERIOD_NS: u64 = 250_000_000;
pub const STATUS_FG: Rgb = Rgb(0xf0, 0xf0, 0xf0);
pub const STATUS_BG: Rgb = Rgb(0x1c, 0x2c, 0x50);

/// Show a status line on the top text row, filled by `hook`; the log
/// scrolls below it from now on. The first hook stays: a later one is
/// ignored.
pub fn set_status_hook(hook: StatusHook) {
    STATUS_HOOK.call_once(|| hook);
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(con) = CONSOLE.lock().as_mut() {
            if con.reserved_rows == 0 {
                con.reserve_top_rows(1);
            }
        }
    });
    STATUS_LAST_NS.store(0, Ordering::Relaxed);
    refresh_status();
}

/// Text rows the status line takes (0 or 1).
pub fn status_rows() -> usize {
    STATUS_HOOK.is_completed() as usize
}

/// Redraw the status line if the last redraw is older than a quarter of a
/// second (called from the timer tick; cheap otherwise).
pub fn refresh_status() {
    let Some(hook) = STATUS_HOOK.get() else { return };
    let now = time::uptime_ns();
    let last = STATUS_LAST_NS.load(Ordering::Relaxed);
    if last != 0 && now.saturating_sub(last) < STATUS_PERIOD_NS {
        return;
    }
    STATUS_LAST_NS.store(now.max(1), Ordering::Relaxed);
    let mut line = crate::fixed_str::FixedStr::<256>::new();
    hook(&mut line);
    let text = line.as_str();
    try_with_console(|con| {
        let (w, ch) = (con.info.width, con.cell_height());
        con.fill_rect(0, 0, w, ch, STATUS_BG);
        con.draw_text_px(con.cell_width() / 2, 0, text, STATUS_FG, STATUS_BG);
    });
}

/// Break the console lock from the panic path.
pub fn force_unlock() {
    if CONSOLE.is_locked() {
        // SAFETY: panic path, interrupts off, single CPU: the holder is the
        // code that panicked and will not resume.
        unsafe { CONSOLE.force_unlock() };
    }
}

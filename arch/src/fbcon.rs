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

use bootloader_api::info::{FrameBufferInfo, PixelFormat};
use log::Level;
use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};
use spin::Mutex;

const FONT_WEIGHT: FontWeight = FontWeight::Regular;
const FONT_HEIGHT: RasterHeight = RasterHeight::Size16;
/// Extra pixels between lines.
const LINE_SPACING: usize = 2;

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
}

impl Console {
    fn cell_width() -> usize {
        get_raster_width(FONT_WEIGHT, FONT_HEIGHT)
    }

    fn cell_height() -> usize {
        FONT_HEIGHT.val() + LINE_SPACING
    }

    fn cols(&self) -> usize {
        self.info.width / Self::cell_width()
    }

    fn rows(&self) -> usize {
        self.info.height / Self::cell_height()
    }

    /// Write one pixel. Coordinates outside the screen are ignored.
    pub fn put_pixel(&mut self, x: usize, y: usize, c: Rgb) {
        if x >= self.info.width || y >= self.info.height {
            return;
        }
        let bpp = self.info.bytes_per_pixel;
        let at = (y * self.info.stride + x) * bpp;
        let px: [u8; 4] = match self.info.pixel_format {
            PixelFormat::Rgb => [c.0, c.1, c.2, 0],
            PixelFormat::Bgr => [c.2, c.1, c.0, 0],
            PixelFormat::U8 => [((c.0 as u16 + c.1 as u16 + c.2 as u16) / 3) as u8, 0, 0, 0],
            _ => [c.2, c.1, c.0, 0],
        };
        let n = bpp.min(4);
        if let Some(dst) = self.buffer.get_mut(at..at + n) {
            dst.copy_from_slice(&px[..n]);
        }
    }

    /// Fill a rectangle.
    pub fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, c: Rgb) {
        for yy in y..(y + h).min(self.info.height) {
            for xx in x..(x + w).min(self.info.width) {
                self.put_pixel(xx, yy, c);
            }
        }
    }

    /// Draw `ch` with its top-left corner at pixel (x, y).
    pub fn draw_char(&mut self, x: usize, y: usize, ch: char, fg: Rgb, bg: Rgb) {
        let raster = get_raster(ch, FONT_WEIGHT, FONT_HEIGHT)
            .or_else(|| get_raster('?', FONT_WEIGHT, FONT_HEIGHT));
        let Some(raster) = raster else { return };
        for (dy, row) in raster.rows().enumerate() {
            for (dx, &v) in row.iter().enumerate() {
                let mix = |f: u8, b: u8| ((f as u16 * v as u16 + b as u16 * (255 - v as u16)) / 255) as u8;
                self.put_pixel(x + dx, y + dy, Rgb(mix(fg.0, bg.0), mix(fg.1, bg.1), mix(fg.2, bg.2)));
            }
        }
    }

    /// Draw a string at a text cell, without moving the cursor.
    pub fn draw_text_at(&mut self, col: usize, row: usize, s: &str, fg: Rgb, bg: Rgb) {
        for (i, ch) in s.chars().enumerate() {
            if col + i >= self.cols() {
                break;
            }
            self.draw_char((col + i) * Self::cell_width(), row * Self::cell_height(), ch, fg, bg);
        }
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
        let line_bytes = self.info.stride * self.info.bytes_per_pixel * Self::cell_height();
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
            '\t' => {
                for _ in 0..(8 - self.col % 8) {
                    self.write_char(' ');
                }
            }
            ch => {
                if self.col >= self.cols() {
                    self.newline();
                }
                let (x, y) = (self.col * Self::cell_width(), self.row * Self::cell_height());
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

    /// Keep the top `rows` text rows out of the scrolling area.
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
    *CONSOLE.lock() = Some(Console { buffer, info, col: 0, row: 0, fg: WHITE, reserved_rows: 0 });
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
        Level::Debug => Rgb(0x88, 0xaa, 0xff),
        Level::Trace => Rgb(0x88, 0x88, 0x88),
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

/// Break the console lock from the panic path.
pub fn force_unlock() {
    if CONSOLE.is_locked() {
        // SAFETY: panic path, interrupts off, single CPU: the holder is the
        // code that panicked and will not resume.
        unsafe { CONSOLE.force_unlock() };
    }
}

//! The CMOS real-time clock: wall-clock time at boot (CLOCK_REALTIME is
//! this plus the TSC clock since).

use x86_64::instructions::port::Port;

fn cmos(reg: u8) -> u8 {
    let mut index: Port<u8> = Port::new(0x70);
    let mut data: Port<u8> = Port::new(0x71);
    // SAFETY: ports 0x70/0x71 are the CMOS index/data pair; bit 7 of the
    // index keeps NMIs disabled while we read.
    unsafe {
        index.write(0x80 | reg);
        data.read()
    }
}

fn updating() -> bool {
    cmos(0x0a) & 0x80 != 0
}

fn read_raw() -> [u8; 7] {
    while updating() {
        core::hint::spin_loop();
    }
    [cmos(0x00), cmos(0x02), cmos(0x04), cmos(0x07), cmos(0x08), cmos(0x09), cmos(0x32)]
}

/// Days from 1970-01-01 to `y-m-d` (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Seconds since the Unix epoch, read twice until stable.
pub fn read_unix_time() -> u64 {
    let mut a = read_raw();
    loop {
        let b = read_raw();
        if a == b {
            break;
        }
        a = b;
    }
    let status_b = cmos(0x0b);
    let bcd = status_b & 0x04 == 0;
    let conv = |v: u8| if bcd { (v & 0x0f) + (v >> 4) * 10 } else { v };
    let (sec, min) = (conv(a[0]) as u64, conv(a[1]) as u64);
    let mut hour = conv(a[2] & 0x7f) as u64;
    if status_b & 0x02 == 0 && a[2] & 0x80 != 0 {
        hour = (hour + 12) % 24;
    }
    let (day, month) = (conv(a[3]) as u32, conv(a[4]) as u32);
    let century = if a[6] != 0 && conv(a[6]) >= 19 { conv(a[6]) as i64 } else { 20 };
    let year = century * 100 + conv(a[5]) as i64;
    let days = days_from_civil(year, month.clamp(1, 12), day.clamp(1, 31));
    (days.max(0) as u64) * 86400 + hour * 3600 + min * 60 + sec
}

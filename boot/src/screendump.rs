//! `boot screendump`: boot a kernel, wait, and save what is on its screen
//! as a PNG.
//!
//! ```text
//!   qemu ... -qmp unix:SOCK,server=on,wait=off      serial lines -> stdout
//!   wait N seconds, or for a serial line containing TEXT (then N more)
//!   QMP: qmp_capabilities (as soon as the socket exists);
//!        at the trigger: stop; screendump filename=FILE.ppm; quit
//!   FILE.ppm (P6) -> PNG (RGB, 8 bit, zlib via miniz_oxide)
//! ```
//!
//! The PPM parser and the PNG encoder are plain functions with host tests;
//! the encoder writes the chunks itself (IHDR, IDAT, IEND with their CRCs),
//! so the only dependency is the deflate compressor.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// An 8-bit RGB image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    /// Row-major RGB triples, `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

/// Parse a binary PPM (`P6`): header fields separated by whitespace and
/// `#` comments, a single whitespace byte, then the samples (two bytes
/// each, big-endian, when maxval > 255; scaled to 8 bits).
pub fn parse_ppm(data: &[u8]) -> Result<Image> {
    let mut pos = 0;
    let field = |pos: &mut usize| -> Result<String> {
        loop {
            match data.get(*pos) {
                Some(b'#') => {
                    while data.get(*pos).is_some_and(|&b| b != b'\n') {
                        *pos += 1;
                    }
                }
                Some(b) if b.is_ascii_whitespace() => *pos += 1,
                Some(_) => break,
                None => bail!("ppm: header ends early"),
            }
        }
        let start = *pos;
        while data.get(*pos).is_some_and(|b| !b.is_ascii_whitespace() && *b != b'#') {
            *pos += 1;
        }
        Ok(String::from_utf8_lossy(&data[start..*pos]).into_owned())
    };
    let magic = field(&mut pos)?;
    if magic != "P6" {
        bail!("ppm: magic '{magic}' is not P6 (binary RGB)");
    }
    let num = |s: String, what: &str| -> Result<u32> { s.parse().with_context(|| format!("ppm: bad {what} '{s}'")) };
    let width = num(field(&mut pos)?, "width")?;
    let height = num(field(&mut pos)?, "height")?;
    let maxval = num(field(&mut pos)?, "maxval")?;
    if width == 0 || height == 0 || width > 1 << 15 || height > 1 << 15 {
        bail!("ppm: size {width}x{height} out of range");
    }
    if maxval == 0 || maxval > 65535 {
        bail!("ppm: maxval {maxval} out of range");
    }
    // Exactly one whitespace byte ends the header.
    if !data.get(pos).is_some_and(|b| b.is_ascii_whitespace()) {
        bail!("ppm: no whitespace after the header");
    }
    pos += 1;
    let samples = width as usize * height as usize * 3;
    let wide = maxval > 255;
    let need = samples * if wide { 2 } else { 1 };
    let body = data
        .get(pos..pos + need)
        .with_context(|| format!("ppm: {} bytes of pixels, {} present", need, data.len() - pos))?;
    let scale = |v: u32| -> u8 { if maxval == 255 { v as u8 } else { ((v * 255 + maxval / 2) / maxval) as u8 } };
    let rgb = if wide {
        body.chunks_exact(2).map(|b| scale(u32::from(b[0]) << 8 | u32::from(b[1]))).collect()
    } else {
        body.iter().map(|&b| scale(u32::from(b))).collect()
    };
    Ok(Image { width, height, rgb })
}

/// CRC-32 (ISO-HDLC, as PNG uses) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Encode as PNG: 8-bit RGB, each row with filter "Up" (a screen of flat
/// colours compresses to almost nothing), zlib level 6.
pub fn encode_png(img: &Image) -> Vec<u8> {
    let stride = img.width as usize * 3;
    let mut raw = Vec::with_capacity((stride + 1) * img.height as usize);
    for y in 0..img.height as usize {
        let row = &img.rgb[y * stride..(y + 1) * stride];
        if y == 0 {
            raw.push(0);
            raw.extend_from_slice(row);
        } else {
            let above = &img.rgb[(y - 1) * stride..y * stride];
            raw.push(2);
            raw.extend(row.iter().zip(above).map(|(a, b)| a.wrapping_sub(*b)));
        }
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&img.width.to_be_bytes());
    ihdr.extend_from_slice(&img.height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6));
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Convert a PPM file's bytes to PNG bytes.
pub fn ppm_to_png(ppm: &[u8]) -> Result<Vec<u8>> {
    Ok(encode_png(&parse_ppm(ppm)?))
}

/// When to take the picture.
#[derive(Clone, Debug, PartialEq)]
pub enum WaitFor {
    /// This long after QEMU started.
    Seconds(Duration),
    /// When a serial line contains the text, then `after` more.
    Text { text: String, after: Duration },
}

/// A QMP connection (QEMU's JSON monitor) past its capabilities handshake.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connect and negotiate; fails at once if the socket is not there.
    pub fn connect(socket: &Path) -> Result<Qmp> {
        let stream =
            UnixStream::connect(socket).with_context(|| format!("connecting to QMP at {}", socket.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut q = Qmp { reader: BufReader::new(stream.try_clone()?), writer: stream };
        let mut greeting = String::new();
        q.reader.read_line(&mut greeting)?;
        if !greeting.contains("QMP") {
            bail!("QMP: unexpected greeting {}", greeting.trim());
        }
        q.execute(r#"{"execute":"qmp_capabilities"}"#)?;
        Ok(q)
    }

    /// Send `cmd`, skip asynchronous events, return the reply line (an
    /// error reply is an error).
    pub fn execute(&mut self, cmd: &str) -> Result<String> {
        self.writer.write_all(cmd.as_bytes())?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("QMP: connection closed waiting for the reply to {cmd}");
            }
            if line.contains("\"return\"") {
                return Ok(line);
            }
            if line.contains("\"error\"") {
                bail!("QMP: {cmd} failed: {}", line.trim());
            }
        }
    }

    /// Pause the guest (so the screen is the one of this instant), save
    /// the screen as PPM at `ppm`, and quit QEMU (also when the dump
    /// failed, so a paused guest is never left waiting for a timeout).
    pub fn stop_dump_quit(&mut self, ppm: &Path) -> Result<()> {
        self.execute(r#"{"execute":"stop"}"#)?;
        let dumped = ppm.to_str().context("screendump path is not UTF-8").and_then(|p| {
            let path = p.replace('\\', "\\\\").replace('"', "\\\"");
            self.execute(&format!(r#"{{"execute":"screendump","arguments":{{"filename":"{path}"}}}}"#))
        });
        // QEMU may close the socket before answering `quit`.
        let _ = self.execute(r#"{"execute":"quit"}"#);
        dumped.map(|_| ())
    }
}

/// Connect to QEMU's QMP socket (waiting up to ten seconds for it), pause
/// the guest, save the screen to `ppm` and quit QEMU: the matrix's
/// `screendump=` at its trigger line.
pub fn dump_and_quit(socket: &Path, ppm: &Path) -> Result<()> {
    connect_retrying(socket)?.stop_dump_quit(ppm)
}

/// Connect to QMP, retrying for up to ten seconds while QEMU starts.
fn connect_retrying(socket: &Path) -> Result<Qmp> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Qmp::connect(socket) {
            Ok(q) => return Ok(q),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e),
        }
    }
}

/// Start `cmd` (a QEMU with `-qmp unix:SOCKET,...`), stream its serial
/// lines to `on_line`, and when `wait` is satisfied pause the guest, save
/// the screen to `ppm` and stop QEMU. The QMP connection is made as soon
/// as the socket exists, so a trigger line is acted on within
/// milliseconds. Fails when QEMU exits first or `limit` passes.
pub fn capture(
    mut cmd: Command,
    socket: &Path,
    wait: &WaitFor,
    limit: Duration,
    ppm: &Path,
    mut on_line: impl FnMut(&str),
) -> Result<()> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let mut stderr = child.stderr.take().context("no stderr pipe")?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        while matches!(r.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).replace('\r', "");
            buf.clear();
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut shoot_at = match wait {
        WaitFor::Seconds(d) => Some(start + *d),
        WaitFor::Text { .. } => None,
    };
    let mut qmp: Option<Qmp> = None;
    let result = loop {
        if qmp.is_none() && socket.exists() {
            qmp = Qmp::connect(socket).ok();
        }
        if shoot_at.is_some_and(|t| Instant::now() >= t) {
            break match qmp.take() {
                Some(q) => Ok(q),
                None => connect_retrying(socket),
            }
            .and_then(|mut q| q.stop_dump_quit(ppm));
        }
        if start.elapsed() >= limit {
            break Err(anyhow::anyhow!(
                "no screendump within {}s ({})",
                limit.as_secs(),
                match wait {
                    WaitFor::Text { text, .. } => format!("'{text}' never appeared on serial"),
                    WaitFor::Seconds(_) => "QEMU too slow".to_string(),
                }
            ));
        }
        let poll =
            if qmp.is_none() || shoot_at.is_some() { Duration::from_millis(20) } else { Duration::from_millis(100) };
        match rx.recv_timeout(poll) {
            Ok(line) => {
                on_line(&line);
                if let WaitFor::Text { text, after } = wait {
                    if shoot_at.is_none() && line.contains(text.as_str()) {
                        shoot_at = Some(Instant::now() + *after);
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                let err = err_reader.join().unwrap_or_default();
                bail!(
                    "QEMU exited before the screendump{}",
                    if err.trim().is_empty() { String::new() } else { format!(": {}", err.trim()) }
                );
            }
        }
    };
    // `quit` normally ends QEMU; make sure it is gone (at once on failure).
    let stop = Instant::now() + if result.is_ok() { Duration::from_secs(5) } else { Duration::ZERO };
    while child.try_wait()?.is_none() {
        if Instant::now() > stop {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for line in rx.try_iter() {
        on_line(&line);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ppm(w: u32, h: u32, maxval: u32, header_extra: &str, body: &[u8]) -> Vec<u8> {
        let mut v = format!("P6\n{header_extra}{w} {h}\n{maxval}\n").into_bytes();
        v.extend_from_slice(body);
        v
    }

    /// Walk PNG chunks, checking every CRC; returns (kind, data) pairs.
    fn chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let mut at = 8;
        let mut out = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = png[at + 4..at + 8].try_into().unwrap();
            let data = png[at + 8..at + 8 + len].to_vec();
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(&png[at + 4..at + 8 + len]), "CRC of {:?}", std::str::from_utf8(&kind));
            out.push((kind, data));
            at += 12 + len;
        }
        out
    }

    /// Undo the PNG filters of an RGB image (None and Up only, as written).
    fn decode(png: &[u8]) -> Image {
        let c = chunks(png);
        let ihdr = &c[0].1;
        let width = u32::from_be_bytes(ihdr[0..4].try_into().unwrap());
        let height = u32::from_be_bytes(ihdr[4..8].try_into().unwrap());
        assert_eq!(&ihdr[8..], &[8, 2, 0, 0, 0]);
        let idat: Vec<u8> = c.iter().filter(|(k, _)| k == b"IDAT").flat_map(|(_, d)| d.clone()).collect();
        let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&idat).unwrap();
        let stride = width as usize * 3;
        let mut rgb = vec![0u8; stride * height as usize];
        for y in 0..height as usize {
            let line = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
            for x in 0..stride {
                let up = if y > 0 { rgb[(y - 1) * stride + x] } else { 0 };
                rgb[y * stride + x] = match line[0] {
                    0 => line[1 + x],
                    2 => line[1 + x].wrapping_add(up),
                    f => panic!("unexpected filter {f}"),
                };
            }
        }
        assert_eq!(c.last().unwrap().0, *b"IEND");
        Image { width, height, rgb }
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
    }

    #[test]
    fn ppm_header_with_comments_parses() {
        let body: Vec<u8> = (0..2 * 3 * 3).map(|i| i as u8).collect();
        let img = parse_ppm(&ppm(3, 2, 255, "# made by QEMU\n", &body)).unwrap();
        assert_eq!((img.width, img.height), (3, 2));
        assert_eq!(img.rgb, body);
    }

    #[test]
    fn sixteen_bit_and_small_maxval_samples_scale_to_8_bits() {
        let img = parse_ppm(&ppm(1, 1, 65535, "", &[0xff, 0xff, 0x80, 0x00, 0x00, 0x00])).unwrap();
        assert_eq!(img.rgb, vec![255, 128, 0]);
        let img = parse_ppm(&ppm(1, 1, 15, "", &[15, 0, 8])).unwrap();
        assert_eq!(img.rgb, vec![255, 0, 136]);
    }

    #[test]
    fn bad_ppm_is_refused_with_a_reason() {
        assert!(parse_ppm(b"P3\n1 1\n255\n0 0 0").unwrap_err().to_string().contains("P6"));
        assert!(parse_ppm(b"P6\n2 2\n255\n\x00\x00").unwrap_err().to_string().contains("12 bytes"));
        assert!(parse_ppm(b"P6\n0 2\n255\n").is_err());
        assert!(parse_ppm(b"P6\n1 1\n").is_err());
        assert!(parse_ppm(b"P6\nx 1\n255\n000").is_err());
    }

    #[test]
    fn png_round_trips_pixels_and_compresses_flat_screens() {
        let (w, h) = (640u32, 360u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        for y in 0..h {
            for x in 0..w {
                let i = ((y * w + x) * 3) as usize;
                rgb[i] = (x % 256) as u8;
                rgb[i + 1] = if y > 100 { 200 } else { 10 };
                rgb[i + 2] = ((x / 8 + y / 8) % 2 * 255) as u8;
            }
        }
        let img = Image { width: w, height: h, rgb };
        let mut p = format!("P6\n{w} {h}\n255\n").into_bytes();
        p.extend_from_slice(&img.rgb);
        let png = ppm_to_png(&p).unwrap();
        assert_eq!(decode(&png), img);
        assert!(png.len() < img.rgb.len() / 10, "{} bytes for {} of pixels", png.len(), img.rgb.len());
    }

    #[test]
    fn qmp_client_negotiates_pauses_dumps_and_quits() {
        use std::os::unix::net::UnixListener;
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut w = stream;
            w.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n").unwrap();
            let mut seen = Vec::new();
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 0 {
                seen.push(line.trim().to_string());
                // An asynchronous event first, as QEMU sends on `stop`.
                if line.contains("\"stop\"") {
                    w.write_all(b"{\"event\": \"STOP\"}\n").unwrap();
                }
                if line.contains("screendump") {
                    let file = line.split("\"filename\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
                    std::fs::write(file, b"P6\n1 1\n255\n\x01\x02\x03").unwrap();
                }
                if line.contains("\"quit\"") {
                    break;
                }
                w.write_all(b"{\"return\": {}}\n").unwrap();
                line.clear();
            }
            seen
        });
        let ppm = dir.path().join("shot.ppm");
        let mut q = Qmp::connect(&sock).unwrap();
        q.stop_dump_quit(&ppm).unwrap();
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(
            seen[0].contains("qmp_capabilities") && seen[1].contains("stop") && seen[3].contains("quit"),
            "{seen:?}"
        );
        assert_eq!(parse_ppm(&std::fs::read(&ppm).unwrap()).unwrap().rgb, vec![1, 2, 3]);
    }

    #[test]
    fn capture_fails_clearly_when_qemu_exits_first() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo booting; echo oops >&2; exit 3"]);
        let dir = tempfile::tempdir().unwrap();
        let wait = WaitFor::Text { text: "never".into(), after: Duration::ZERO };
        let mut seen = Vec::new();
        let err =
            capture(cmd, &dir.path().join("q.sock"), &wait, Duration::from_secs(10), &dir.path().join("s.ppm"), |l| {
                seen.push(l.to_string())
            })
            .unwrap_err();
        assert!(err.to_string().contains("exited before the screendump"), "{err}");
        assert!(err.to_string().contains("oops"), "{err}");
        assert_eq!(seen, vec!["booting"]);
    }

    #[test]
    fn capture_times_out_when_the_text_never_comes() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo booting; exec sleep 30"]);
        let dir = tempfile::tempdir().unwrap();
        let wait = WaitFor::Text { text: "ready".into(), after: Duration::ZERO };
        let t = Instant::now();
        let err = capture(
            cmd,
            &dir.path().join("q.sock"),
            &wait,
            Duration::from_millis(500),
            &dir.path().join("s.ppm"),
            |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("'ready' never appeared"), "{err}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}

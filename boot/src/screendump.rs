//! `boot screendump`: boot a kernel, wait, and save what is on its screen
//! as a PNG.
//!
//! ```text
//!   qemu ... -qmp unix:SOCK,server=on,wait=off      serial lines -> stdout
//!   wait N seconds, or for a serial line containing TEXT (then N more)
//!   QMP: qmp_capabilities (as soon as the socket exists);
//!        at the trigger: stop; screendump filename=FILE.ppm; quit
//!   FILE.ppm (P6) -> PNG (RGB, 8 bit, the `png` crate)
//! ```
//!
//! The PPM parser and the PNG encoding are plain functions with host tests;
//! QMP messages are JSON values built and read with `serde_json`, one per
//! line.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

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

/// Encode as PNG: 8-bit RGB, the `png` crate's default filters and
/// compression (a screen of flat colours compresses to almost nothing).
pub fn encode_png(img: &Image) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, img.width, img.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("png: writing the header")?;
    writer.write_image_data(&img.rgb).context("png: writing the pixels")?;
    writer.finish().context("png: finishing")?;
    Ok(out)
}

/// Convert a PPM file's bytes to PNG bytes.
pub fn ppm_to_png(ppm: &[u8]) -> Result<Vec<u8>> {
    encode_png(&parse_ppm(ppm)?)
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
        let greeting = q.read_message()?.context("QMP: connection closed before the greeting")?;
        if greeting.get("QMP").is_none() {
            bail!("QMP: unexpected greeting {greeting}");
        }
        q.execute("qmp_capabilities", None)?;
        Ok(q)
    }

    /// The next message, `None` when QEMU closed the connection.
    fn read_message(&mut self) -> Result<Option<Value>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let message = serde_json::from_str(&line).with_context(|| format!("QMP: bad message {}", line.trim()))?;
        Ok(Some(message))
    }

    /// Run `command` (with `arguments`, if any), skip asynchronous events,
    /// and return the reply's `return` value (an `error` reply is an error).
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        self.writer.flush()?;
        loop {
            let Some(mut reply) = self.read_message()? else {
                bail!("QMP: connection closed waiting for the reply to {command}");
            };
            if let Some(value) = reply.get_mut("return") {
                return Ok(value.take());
            }
            if let Some(error) = reply.get("error") {
                let desc = error.get("desc").and_then(Value::as_str).unwrap_or("no description");
                bail!("QMP: {command} failed: {desc}");
            }
        }
    }

    /// Pause the guest (so the screen is the one of this instant), save
    /// the screen as PPM at `ppm`, and quit QEMU (also when the dump
    /// failed, so a paused guest is never left waiting for a timeout).
    pub fn stop_dump_quit(&mut self, ppm: &Path) -> Result<()> {
        self.execute("stop", None)?;
        let dumped = ppm
            .to_str()
            .context("screendump path is not UTF-8")
            .and_then(|path| self.execute("screendump", Some(json!({ "filename": path }))));
        // QEMU may close the socket before answering `quit`.
        let _ = self.execute("quit", None);
        dumped.map(|_| ())
    }
}

/// Connect to QEMU's QMP socket (waiting up to ten seconds for it), pause
/// the guest, save the screen to `ppm` and quit QEMU: the matrix's
/// `screendump=` at its trigger line.
pub fn dump_and_quit(socket: &Path, ppm: &Path) -> Result<()> {
    connect_retrying(socket)?.stop_dump_quit(ppm)
}

/// Raise an NMI on every CPU of the guest behind `socket` (QMP
/// `inject-nmi`) and leave it running: the kernel answers with a report of
/// where each CPU is and what each task waits on (`nmi_report.rs`). The
/// matrix does this to a run that passed its timeout.
pub fn inject_nmi(socket: &Path) -> Result<()> {
    Qmp::connect(socket)?.execute("inject-nmi", None).map(|_| ())
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

    /// Decode with the `png` crate's decoder, insisting on 8-bit RGB.
    fn decode(png: &[u8]) -> Image {
        let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
        let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut rgb).unwrap();
        assert_eq!((frame.color_type, frame.bit_depth), (png::ColorType::Rgb, png::BitDepth::Eight));
        rgb.truncate(frame.buffer_size());
        Image { width: frame.width, height: frame.height, rgb }
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
    fn png_of_noisy_pixels_and_odd_sizes_round_trips() {
        // Every row filter the encoder may pick, on widths that are no
        // multiple of anything.
        let mut seed = 0x2545_f491_u32;
        for (w, h) in [(1u32, 1u32), (3, 2), (7, 5), (33, 17)] {
            let rgb = (0..w * h * 3)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            let img = Image { width: w, height: h, rgb };
            assert_eq!(decode(&encode_png(&img).unwrap()), img, "{w}x{h}");
        }
    }

    /// A fake QEMU monitor on `sock` for one client: the greeting, a STOP
    /// event before `stop`'s reply (as QEMU sends), the screendump written
    /// where asked or, when `dump_error` is given, refused with it. Returns
    /// the requests it saw.
    fn fake_qmp(sock: &Path, dump_error: Option<&'static str>) -> std::thread::JoinHandle<Vec<Value>> {
        use std::os::unix::net::UnixListener;
        let listener = UnixListener::bind(sock).unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut w = stream;
            let mut send = |v: Value| w.write_all(format!("{v}\n").as_bytes()).unwrap();
            send(json!({ "QMP": { "version": {}, "capabilities": [] } }));
            let mut seen = Vec::new();
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 0 {
                let request: Value = serde_json::from_str(&line).unwrap();
                line.clear();
                seen.push(request.clone());
                match request["execute"].as_str().unwrap() {
                    "stop" => send(json!({ "event": "STOP" })),
                    "screendump" => match dump_error {
                        Some(desc) => {
                            send(json!({ "error": { "class": "GenericError", "desc": desc } }));
                            continue;
                        }
                        None => {
                            let file = request["arguments"]["filename"].as_str().unwrap();
                            std::fs::write(file, b"P6\n1 1\n255\n\x01\x02\x03").unwrap();
                        }
                    },
                    "quit" => break,
                    _ => {}
                }
                send(json!({ "return": {} }));
            }
            seen
        })
    }

    fn commands(seen: &[Value]) -> Vec<&str> {
        seen.iter().map(|r| r["execute"].as_str().unwrap()).collect()
    }

    #[test]
    fn qmp_client_negotiates_pauses_dumps_and_quits() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let server = fake_qmp(&sock, None);
        // Quotes and backslashes in the path reach QEMU intact.
        let ppm = dir.path().join(r#"shot "1" \.ppm"#);
        let mut q = Qmp::connect(&sock).unwrap();
        q.stop_dump_quit(&ppm).unwrap();
        let seen = server.join().unwrap();
        assert_eq!(commands(&seen), vec!["qmp_capabilities", "stop", "screendump", "quit"]);
        assert_eq!(seen[2]["arguments"]["filename"], ppm.to_str().unwrap());
        assert_eq!(parse_ppm(&std::fs::read(&ppm).unwrap()).unwrap().rgb, vec![1, 2, 3]);
    }

    #[test]
    fn qmp_error_replies_fail_with_their_description_and_still_quit() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let server = fake_qmp(&sock, Some("Could not open 'x.ppm'"));
        let err = Qmp::connect(&sock).unwrap().stop_dump_quit(&dir.path().join("x.ppm")).unwrap_err();
        assert!(err.to_string().contains("screendump failed: Could not open 'x.ppm'"), "{err}");
        assert_eq!(commands(&server.join().unwrap()), vec!["qmp_capabilities", "stop", "screendump", "quit"]);
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

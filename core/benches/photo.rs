//! Benchmark of the snap-report photo pipeline on 12 MP camera-like JPEGs.
//!
//! Nothing is downloaded: the images are generated deterministically at run time — a street
//! scene with sky, a brick wall with windows and a poster, paving with a crack, lens softness,
//! vignetting and sensor noise — then encoded as a phone camera would (JPEG quality 92, 4:2:0,
//! an EXIF block with make/model, GPS, a maker-note blob, and an orientation tag on some).
//!
//! Prints one line per figure, `metric_name value unit`, on stdout; progress goes to stderr.
//! "kb" means 1000 bytes. Timings are medians because the machine is shared.
//!
//! The baseline is the naive `image`-only path on the same images in the same run: decode,
//! `resize_exact` with Lanczos3 to the same output size, `image`'s own JPEG encoder at 80.
//! The pipeline's time includes everything it does beyond that (orientation, thumbnail,
//! SHA-256), so the ratio is conservative.

use std::error::Error;
use std::time::{Duration, Instant};

use gridwalk_core::photo::{PhotoOptions, process_photo};

const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;
const IMAGES: u64 = 10;
/// Timed runs of the pipeline per image; the baseline is much slower and runs once.
const PIPELINE_RUNS: usize = 3;

fn main() -> Result<(), Box<dyn Error>> {
    let opts = PhotoOptions::default();

    let mut inputs = Vec::new();
    for seed in 0..IMAGES {
        let started = Instant::now();
        let input = camera_jpeg(seed)?;
        eprintln!(
            "generated image {seed}: {} KB in {:?}",
            input.len() / 1000,
            started.elapsed()
        );
        inputs.push(input);
    }

    // Warm-up: page in code and let the allocator settle.
    process_photo(&inputs[0], &opts)?;

    let mut pipeline_ms = Vec::new();
    let mut out_kb = Vec::new();
    let mut thumb_kb = Vec::new();
    let mut metadata_bytes_out = 0usize;
    let mut outputs = Vec::new();
    for input in &inputs {
        let mut first = None;
        for _ in 0..PIPELINE_RUNS {
            let started = Instant::now();
            let photo = process_photo(input, &opts)?;
            pipeline_ms.push(ms(started.elapsed()));
            first.get_or_insert(photo);
        }
        let photo = first.ok_or("no pipeline run")?;
        out_kb.push(photo.jpeg.len() as f64 / 1000.0);
        thumb_kb.push(photo.thumbnail.len() as f64 / 1000.0);
        metadata_bytes_out += metadata_bytes(&photo.jpeg)? + metadata_bytes(&photo.thumbnail)?;
        eprintln!(
            "pipeline: {}x{} {:.1} kb, thumb {}x{} {:.1} kb",
            photo.width,
            photo.height,
            photo.jpeg.len() as f64 / 1000.0,
            photo.thumb_width,
            photo.thumb_height,
            photo.thumbnail.len() as f64 / 1000.0
        );
        outputs.push(photo);
    }

    let mut baseline_ms = Vec::new();
    for (input, photo) in inputs.iter().zip(&outputs) {
        let started = Instant::now();
        let out = naive_image_rs(input, photo.width, photo.height)?;
        baseline_ms.push(ms(started.elapsed()));
        eprintln!("baseline: {:.1} kb", out.len() as f64 / 1000.0);
    }

    let pipeline = median(&mut pipeline_ms);
    let baseline = median(&mut baseline_ms);
    println!("photo_out_kb_median {:.1} kb", median(&mut out_kb));
    println!("photo_out_kb_p95 {:.1} kb", p95(&mut out_kb));
    println!("photo_pipeline_ms_median {pipeline:.1} ms");
    println!("baseline_image_rs_naive_ms {baseline:.1} ms");
    println!("photo_pipeline_vs_baseline {:.3} x", pipeline / baseline);
    println!("photo_metadata_bytes_out {metadata_bytes_out} bytes");
    println!("photo_thumb_kb_median {:.1} kb", median(&mut thumb_kb));
    Ok(())
}

/// The naive path: everything through `image`, no orientation, no thumbnail.
fn naive_image_rs(input: &[u8], out_w: u32, out_h: u32) -> Result<Vec<u8>, Box<dyn Error>> {
    let decoded = image::load_from_memory(input)?;
    // The pipeline's output may be rotated; the baseline resizes the stored orientation.
    let (w, h) = if (decoded.width() > decoded.height()) == (out_w > out_h) {
        (out_w, out_h)
    } else {
        (out_h, out_w)
    };
    let resized = decoded.resize_exact(w, h, image::imageops::FilterType::Lanczos3);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&resized)?;
    Ok(out)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Nearest-rank 95th percentile (with 10 images: the largest).
fn p95(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = (values.len() * 95).div_ceil(100).max(1);
    values.get(rank - 1).copied().unwrap_or(f64::NAN)
}

/// Counts metadata in a JPEG by walking its segments: APP1..APP15 and COM segments (marker
/// and length included) plus any bytes after the end-of-image marker. APP0 (JFIF) is the
/// format header, not metadata.
fn metadata_bytes(jpeg: &[u8]) -> Result<usize, Box<dyn Error>> {
    let byte = |i: usize| jpeg.get(i).copied().ok_or("JPEG ends inside a segment");
    if byte(0)? != 0xFF || byte(1)? != 0xD8 {
        return Err("not a JPEG".into());
    }
    let mut count = 0;
    let mut i = 2;
    loop {
        if byte(i)? != 0xFF {
            return Err(format!("marker expected at byte {i}").into());
        }
        let marker = byte(i + 1)?;
        match marker {
            0xFF => i += 1, // fill byte
            0xD9 => return Ok(count + jpeg.len() - (i + 2)),
            0x01 | 0xD0..=0xD7 => i += 2,
            _ => {
                let len = usize::from(u16::from_be_bytes([byte(i + 2)?, byte(i + 3)?]));
                if (0xE1..=0xEF).contains(&marker) || marker == 0xFE {
                    count += len + 2;
                }
                i += 2 + len;
                if marker == 0xDA {
                    // Entropy-coded data: 0xFF is stuffed as FF 00, restart markers are FF D0..D7.
                    while byte(i)? != 0xFF || matches!(byte(i + 1)?, 0x00 | 0xD0..=0xD7) {
                        i += 1;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic camera-like test images
// ---------------------------------------------------------------------------------------

/// A 4000×3000 JPEG as a phone would write it: EXIF first (no JFIF), quality 92, 4:2:0.
fn camera_jpeg(seed: u64) -> Result<Vec<u8>, Box<dyn Error>> {
    let rgb = street_scene(seed);
    let mut encoded = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut encoded, 92);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    encoder.encode(
        &rgb,
        u16::try_from(WIDTH)?,
        u16::try_from(HEIGHT)?,
        jpeg_encoder::ColorType::Rgb,
    )?;
    // Portrait shots are stored landscape with orientation 6 (the common case on phones);
    // one upside-down (3) and one rotated the other way (8) for coverage. The scene is not
    // counter-rotated to match: only the tag matters for the work the pipeline does.
    let orientation = match seed % 5 {
        1 | 3 => 6,
        2 if seed < 5 => 3,
        4 if seed >= 5 => 8,
        _ => 1,
    };
    let exif = exif_payload(orientation, seed);
    // Drop jpeg-encoder's JFIF APP0 (SOI, then FF E0 + 16-byte segment) and put EXIF there.
    let rest = encoded.get(20..).ok_or("encoder output too short")?;
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&u16::try_from(exif.len() + 2)?.to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(rest);
    Ok(out)
}

/// "Exif\0\0" + little-endian TIFF: make, model, orientation, a 6 KB maker note and a GPS
/// IFD with latitude/longitude — the personal data the pipeline must drop.
fn exif_payload(orientation: u16, seed: u64) -> Vec<u8> {
    const ENTRIES: u32 = 5;
    let make = b"GridPhone\0";
    let model = b"GP-12 Pro\0";
    let maker_note: Vec<u8> = (0..6000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let ifd0_len = 2 + ENTRIES * 12 + 4;
    let make_at = 8 + ifd0_len;
    let model_at = make_at + make.len() as u32;
    let note_at = model_at + model.len() as u32;
    let gps_at = note_at + maker_note.len() as u32;
    let gps_len = 2 + 4 * 12 + 4;
    let rationals_at = gps_at + gps_len;

    let mut t: Vec<u8> = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    let entry = |t: &mut Vec<u8>, tag: u16, typ: u16, count: u32, value: u32| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&typ.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes());
    };
    t.extend_from_slice(&(ENTRIES as u16).to_le_bytes());
    entry(&mut t, 0x010F, 2, make.len() as u32, make_at);
    entry(&mut t, 0x0110, 2, model.len() as u32, model_at);
    entry(&mut t, 0x0112, 3, 1, u32::from(orientation));
    entry(&mut t, 0x8825, 4, 1, gps_at);
    // Maker notes live in the EXIF sub-IFD on real cameras; here in IFD0 for brevity.
    entry(&mut t, 0x927C, 7, maker_note.len() as u32, note_at);
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(make);
    t.extend_from_slice(model);
    t.extend_from_slice(&maker_note);
    t.extend_from_slice(&4u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0"));
    entry(&mut t, 0x0002, 5, 3, rationals_at);
    entry(&mut t, 0x0003, 2, 2, u32::from_le_bytes(*b"E\0\0\0"));
    entry(&mut t, 0x0004, 5, 3, rationals_at + 24);
    t.extend_from_slice(&0u32.to_le_bytes());
    let lat: [(u32, u32); 3] = [(39, 1), (54, 1), (2712 + seed as u32, 100)];
    let lon: [(u32, u32); 3] = [(116, 1), (23, 1), (1736, 100)];
    for (num, den) in lat.into_iter().chain(lon) {
        t.extend_from_slice(&num.to_le_bytes());
        t.extend_from_slice(&den.to_le_bytes());
    }
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&t);
    payload
}

/// SplitMix64 finaliser: a cheap, portable, deterministic hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a lattice point to [0, 1).
fn hash01(x: i64, y: i64, seed: u64) -> f32 {
    let h = mix(seed ^ mix((x as u64).wrapping_mul(0x1_0000_0001) ^ (y as u64)));
    (h >> 40) as f32 / (1u64 << 24) as f32
}

/// Smooth value noise in [0, 1) with a feature size of `scale` pixels.
fn value_noise(x: f32, y: f32, scale: f32, seed: u64) -> f32 {
    let (fx, fy) = (x / scale, y / scale);
    let (x0, y0) = (fx.floor(), fy.floor());
    let (tx, ty) = (fx - x0, fy - y0);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let (ix, iy) = (x0 as i64, y0 as i64);
    let a = hash01(ix, iy, seed);
    let b = hash01(ix + 1, iy, seed);
    let c = hash01(ix, iy + 1, seed);
    let d = hash01(ix + 1, iy + 1, seed);
    let top = a + (b - a) * sx;
    let bottom = c + (d - c) * sx;
    top + (bottom - top) * sy
}

/// Parameters of one generated scene, drawn from the seed.
struct Scene {
    seed: u64,
    sky_end: f32,
    ground_start: f32,
    brick_w: f32,
    brick_h: f32,
    brick_rgb: [f32; 3],
    window_period: f32,
    light_from_right: bool,
}

impl Scene {
    fn new(seed: u64) -> Self {
        let r = |k: u64| hash01(seed as i64, k as i64, 0xC0FFEE);
        let h = HEIGHT as f32;
        Scene {
            seed,
            sky_end: h * (0.12 + 0.12 * r(1)),
            ground_start: h * (0.68 + 0.12 * r(2)),
            brick_w: 70.0 + 40.0 * r(3),
            brick_h: 26.0 + 12.0 * r(4),
            brick_rgb: [150.0 + 60.0 * r(5), 70.0 + 50.0 * r(6), 50.0 + 40.0 * r(7)],
            window_period: 520.0 + 200.0 * r(8),
            light_from_right: r(9) > 0.5,
        }
    }

    /// Colour of the scene at a pixel, before lens blur and sensor noise.
    fn shade(&self, x: f32, y: f32) -> [f32; 3] {
        let w = WIDTH as f32;
        let s = self.seed;
        let mut c = if y < self.sky_end {
            let t = y / self.sky_end;
            let cloud = (value_noise(x, y, 420.0, s ^ 1) * 0.7
                + value_noise(x, y, 90.0, s ^ 2) * 0.3
                - 0.45)
                .clamp(0.0, 1.0)
                * 1.6;
            let sky = [90.0 + 80.0 * t, 140.0 + 60.0 * t, 220.0 + 25.0 * t];
            sky.map(|v| v + (245.0 - v) * cloud.min(1.0))
        } else if y < self.ground_start {
            self.wall(x, y - self.sky_end)
        } else {
            self.ground(x, y)
        };
        // Sunlight falls off across the frame; large soft shadows come from value noise.
        let across = if self.light_from_right {
            x / w
        } else {
            1.0 - x / w
        };
        let light = 0.72 + 0.35 * across - 0.12 * value_noise(x, y, 700.0, s ^ 3);
        for v in &mut c {
            *v *= light;
        }
        c
    }

    fn wall(&self, x: f32, y: f32) -> [f32; 3] {
        let s = self.seed;
        // Windows in a regular grid, each with a frame, sill and a reflection band.
        let (px, py) = (self.window_period, self.window_period * 0.75);
        let (wx, wy) = (x.rem_euclid(px), y.rem_euclid(py));
        let (win_w, win_h) = (px * 0.42, py * 0.55);
        let (ox, oy) = (px * 0.29, py * 0.2);
        if wx > ox - 14.0 && wx < ox + win_w + 14.0 && wy > oy - 14.0 && wy < oy + win_h + 14.0 {
            let inside = wx > ox && wx < ox + win_w && wy > oy && wy < oy + win_h;
            if !inside {
                return [225.0, 222.0, 215.0];
            }
            let mullion = (wx - ox - win_w / 2.0).abs() < 5.0;
            if mullion {
                return [210.0, 208.0, 200.0];
            }
            let band = (((wx - ox) + (wy - oy) * 0.6) / 90.0).sin().max(0.0);
            let t = (wy - oy) / win_h;
            return [
                40.0 + 30.0 * t + 90.0 * band,
                55.0 + 30.0 * t + 95.0 * band,
                70.0 + 30.0 * t + 100.0 * band,
            ];
        }
        // A poster with text-like strokes: the high-contrast detail a report photo shows.
        let poster_x = WIDTH as f32 * 0.08 + (s % 3) as f32 * 300.0;
        let poster_y = self.window_period * 0.9;
        if x > poster_x && x < poster_x + 520.0 && y > poster_y && y < poster_y + 680.0 {
            let (lx, ly) = (x - poster_x, y - poster_y);
            let line = (ly / 46.0) as i64;
            let glyph = (lx / 26.0) as i64;
            let in_line = ly.rem_euclid(46.0) > 12.0 && ly.rem_euclid(46.0) < 36.0;
            let stroke = hash01(glyph * 7 + (lx.rem_euclid(26.0) / 6.0) as i64, line, s ^ 9) > 0.55;
            let margin = lx > 30.0 && lx < 490.0 && ly > 30.0 && ly < 650.0;
            return if margin && in_line && stroke {
                [30.0, 30.0, 35.0]
            } else if ly < 110.0 {
                [200.0, 40.0, 40.0]
            } else {
                [238.0, 236.0, 228.0]
            };
        }
        // Running-bond bricks with mortar joints and per-brick tone.
        let row = (y / self.brick_h).floor();
        let offset = if (row as i64) % 2 == 0 {
            0.0
        } else {
            self.brick_w / 2.0
        };
        let col = ((x + offset) / self.brick_w).floor();
        let (lx, ly) = ((x + offset) - col * self.brick_w, y - row * self.brick_h);
        if lx < 4.0 || ly < 4.0 {
            let m = 175.0 + 20.0 * value_noise(x, y, 6.0, s ^ 4);
            return [m, m - 3.0, m - 8.0];
        }
        let tone = 0.82 + 0.3 * hash01(col as i64, row as i64, s ^ 5);
        let grain = 14.0 * (value_noise(x, y, 5.0, s ^ 6) - 0.5);
        let stain = 35.0 * (value_noise(x, y, 260.0, s ^ 7) - 0.5).max(0.0);
        self.brick_rgb.map(|v| v * tone + grain - stain)
    }

    fn ground(&self, x: f32, y: f32) -> [f32; 3] {
        let s = self.seed;
        let h = HEIGHT as f32;
        // Paving in perspective: tiles grow towards the bottom of the frame.
        let depth = (y - self.ground_start) / (h - self.ground_start);
        let scale = 0.25 + depth;
        let gx = (x - WIDTH as f32 / 2.0) / (160.0 * scale);
        let gy = 1.0 / (depth + 0.08) * 3.0;
        let (fx, fy) = (gx - gx.floor(), gy - gy.floor());
        let joint = fx < 0.03 || fy < 0.06 / (scale + 0.2);
        let tone = 0.85 + 0.25 * hash01(gx.floor() as i64, gy.floor() as i64, s ^ 10);
        let grit = 20.0 * (value_noise(x, y, 3.0, s ^ 11) - 0.5);
        let mut c = if joint {
            [95.0, 95.0, 92.0]
        } else {
            [
                150.0 * tone + grit,
                148.0 * tone + grit,
                140.0 * tone + grit,
            ]
        };
        // The reported problem: a crack running across the paving.
        let crack_y = self.ground_start
            + (h - self.ground_start) * 0.55
            + 60.0 * (x / 210.0).sin()
            + 90.0 * (value_noise(x, 0.0, 300.0, s ^ 12) - 0.5);
        let dist = (y - crack_y).abs();
        if dist < 5.0 {
            c = [45.0, 42.0, 40.0];
        } else if dist < 12.0 {
            c = c.map(|v| v * 0.75);
        }
        c
    }
}

/// Renders the scene with a 3×3 lens blur, vignetting and triangular sensor noise.
fn street_scene(seed: u64) -> Vec<u8> {
    let scene = Scene::new(seed);
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let mut sharp = vec![0f32; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let c = scene.shade(x as f32, y as f32);
            sharp[(y * w + x) * 3..][..3].copy_from_slice(&c);
        }
    }
    // Separable [1 2 1]/4 blur: camera optics and demosaicing never give pixel-sharp edges.
    let mut tmp = sharp.clone();
    for y in 0..h {
        for x in 1..w - 1 {
            for ch in 0..3 {
                let i = (y * w + x) * 3 + ch;
                tmp[i] = (sharp[i - 3] + 2.0 * sharp[i] + sharp[i + 3]) / 4.0;
            }
        }
    }
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let max_r2 = cx * cx + cy * cy;
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let vignette = 1.0 - 0.28 * (dx * dx + dy * dy) / max_r2;
            let n = mix(seed ^ ((y * w + x) as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
            for ch in 0..3 {
                let i = (y * w + x) * 3 + ch;
                let (up, down) = (i.saturating_sub(w * 3), (i + w * 3).min(w * h * 3 - 1));
                let blurred = (tmp[up] + 2.0 * tmp[i] + tmp[down]) / 4.0;
                // Triangular noise, σ ≈ 2.5 levels: what survives a phone's denoiser.
                let a = ((n >> (ch * 16)) & 0xFF) as f32;
                let b = ((n >> (ch * 16 + 8)) & 0xFF) as f32;
                let noise = (a + b - 255.0) / 255.0 * 6.0;
                out[i] = (blurred * vignette + noise).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

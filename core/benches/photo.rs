//! Benchmark of the snap-report photo pipeline on 12 MP camera-like JPEGs.
//!
//! Nothing is downloaded: the images are generated deterministically at run time — garbage
//! corners, stairwells, building fronts and a vegetable plot, with lens softness, vignetting
//! and sensor noise (see `photo/scenes.rs`) — then encoded as a phone camera would (JPEG
//! quality 92, 4:2:0, an EXIF block with make/model, GPS, a maker-note blob, and an
//! orientation tag on some).
//!
//! Prints one line per figure, `metric_name value unit`, on stdout; progress goes to stderr.
//! With `GRIDWALK_PHOTO_DUMP=<dir>` the generated inputs and the pipeline's outputs are also
//! written there (`scene-N.jpg`, `out-N.jpg`), to look at what is measured.
//! "kb" means 1000 bytes. Timings are medians because the machine is shared.
//!
//! The baseline is the naive `image`-only path on the same images in the same run: decode,
//! `resize_exact` with Lanczos3 to the same output size, `image`'s own JPEG encoder at 80.
//! The pipeline's time includes everything it does beyond that (orientation, thumbnail,
//! SHA-256), so the ratio is conservative.

use std::error::Error;
use std::time::{Duration, Instant};

use gridwalk_core::photo::{PhotoOptions, process_photo};

#[path = "photo/scenes.rs"]
mod scenes;

use scenes::{HEIGHT, WIDTH};
const IMAGES: u64 = 10;
/// Timed runs of the pipeline per image; the baseline is much slower and runs once.
const PIPELINE_RUNS: usize = 3;

fn main() -> Result<(), Box<dyn Error>> {
    let opts = PhotoOptions::default();
    let dump = std::env::var_os("GRIDWALK_PHOTO_DUMP").map(std::path::PathBuf::from);

    let mut inputs = Vec::new();
    for seed in 0..IMAGES {
        let started = Instant::now();
        let input = camera_jpeg(seed)?;
        eprintln!(
            "generated image {seed} ({}): {} KB in {:?}",
            scenes::subject(seed),
            input.len() / 1000,
            started.elapsed()
        );
        if let Some(dir) = &dump {
            std::fs::write(dir.join(format!("scene-{seed}.jpg")), &input)?;
        }
        inputs.push(input);
    }

    // Warm-up: page in code and let the allocator settle.
    process_photo(&inputs[0], &opts)?;

    let mut pipeline_ms = Vec::new();
    let mut out_kb = Vec::new();
    let mut thumb_kb = Vec::new();
    let mut unbudgeted_kb = Vec::new();
    let mut by_subject: Vec<(&str, Vec<f64>)> = Vec::new();
    let mut min_quality = u8::MAX;
    let mut metadata_bytes_out = 0usize;
    let mut outputs = Vec::new();
    for (n, input) in inputs.iter().enumerate() {
        let mut first = None;
        for _ in 0..PIPELINE_RUNS {
            let started = Instant::now();
            let photo = process_photo(input, &opts)?;
            pipeline_ms.push(ms(started.elapsed()));
            first.get_or_insert(photo);
        }
        let photo = first.ok_or("no pipeline run")?;
        if let Some(dir) = &dump {
            std::fs::write(dir.join(format!("out-{n}.jpg")), &photo.jpeg)?;
        }
        let kb = photo.jpeg.len() as f64 / 1000.0;
        out_kb.push(kb);
        thumb_kb.push(photo.thumbnail.len() as f64 / 1000.0);
        min_quality = min_quality.min(photo.quality);
        let subject = scenes::subject(n as u64);
        match by_subject.iter_mut().find(|(s, _)| *s == subject) {
            Some((_, sizes)) => sizes.push(kb),
            None => by_subject.push((subject, vec![kb])),
        }
        // The same photo without the size budget, to show what the budget changed.
        let unbounded = PhotoOptions {
            max_output_bytes: 0,
            ..opts.clone()
        };
        unbudgeted_kb.push(process_photo(input, &unbounded)?.jpeg.len() as f64 / 1000.0);
        metadata_bytes_out += metadata_bytes(&photo.jpeg)? + metadata_bytes(&photo.thumbnail)?;
        eprintln!(
            "pipeline ({subject}): {}x{} {kb:.1} kb at q{}, thumb {}x{} {:.1} kb",
            photo.width,
            photo.height,
            photo.quality,
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
    println!("photo_quality_min {min_quality} q");
    println!(
        "photo_out_kb_p95_without_budget {:.1} kb",
        p95(&mut unbudgeted_kb)
    );
    for (subject, sizes) in &mut by_subject {
        let name = subject.replace(' ', "_");
        println!("photo_out_kb_median_{name} {:.1} kb", median(sizes));
    }
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
    let rgb = scenes::render(seed);
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

//! The photo pipeline for snap reports (随手拍): camera bytes in, a small, clean JPEG out.
//!
//! A grid worker's phone hands us whatever the camera or the gallery produced: a 12–50 MP
//! JPEG with EXIF (GPS position, device serials, maker notes) or a PNG screenshot. Before a
//! photo is stored or synced it goes through [`process_photo`]:
//!
//! 1. sniff the format and read the dimensions from the header, refusing anything larger than
//!    [`PhotoOptions::max_input_pixels`] *before* a pixel buffer is allocated (this is what
//!    stops a 30000×30000 PNG "bomb" of a few kilobytes);
//! 2. decode: RGB/greyscale JPEGs (all camera photos) with `jpeg-decoder`, directly at 1/2,
//!    1/4 or 1/8 scale when the output is that much smaller (a 12 MP photo needs a 9 MB buffer,
//!    not 36 MB); PNG and rare JPEG variants (CMYK, 16-bit) with `image` under
//!    [`image::Limits`]. Every decode buffer is capped by a budget derived from the pixel cap;
//! 3. downscale with `fast_image_resize` (Lanczos3) to [`PhotoOptions::max_edge`], then apply
//!    the EXIF orientation to the small image (rotating 2 MP is cheaper than rotating 12 MP);
//! 4. encode with `jpeg-encoder`: baseline, one interleaved scan, 4:2:0, and no metadata at
//!    all — only the 16-byte JFIF APP0 header (format marker, 1:1 pixel aspect), never
//!    EXIF/XMP/ICC/comments; then rewrite the scan with optimal Huffman tables
//!    (`huffman::optimize`, lossless, ~5 % smaller). A photo over
//!    [`PhotoOptions::max_output_bytes`] (250 kB) is encoded again a few quality steps lower,
//!    never below [`PhotoOptions::min_quality`];
//! 5. meanwhile, on a second thread, make the thumbnail from the same downscaled pixels; hash
//!    the main JPEG with SHA-256.
//!
//! The pipeline is deterministic: the same input bytes and options give the same output bytes
//! on the same kind of CPU, so the store (which keys photos by the hash) keeps a re-submitted
//! photo once. The JPEG decoder is built `platform_independent` (no SIMD) and
//! `fast_image_resize`'s test suite checks the same results for every instruction set, but
//! the encoder's AVX2 path (x86-64 only; phones run its scalar path) is not promised to round
//! exactly like the scalar one, so the same camera file processed on a phone and on an x86-64
//! machine may hash differently. Photos are processed on the phone that took them, so this
//! does not cost a duplicate in practice.
//!
//! Colour profiles are dropped rather than converted: pixels are treated as sRGB. Wide-gamut
//! (Display P3) photos therefore look slightly less saturated, which does not matter for
//! documenting a broken lamp or a blocked corridor, and it keeps the output free of metadata.

use std::borrow::Cow;
use std::io::{Cursor, Read};
use std::path::Path;

use fast_image_resize as fir;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use jpeg_encoder::{
    ChromaSubsamplingMethod, ColorType, Encoder, QuantizationTableType, SamplingFactor,
};
use sha2::{Digest, Sha256};

mod huffman;

/// Default longest edge of the stored photo, in pixels.
pub const DEFAULT_MAX_EDGE: u32 = 1600;
/// Default longest edge of the thumbnail, in pixels.
pub const DEFAULT_THUMB_EDGE: u32 = 320;
/// Default JPEG quality (1–100) for both the photo and the thumbnail.
pub const DEFAULT_QUALITY: u8 = 80;
/// Default cap on input pixels: 50 MP.
///
/// Phones ship 48/50 MP "full resolution" modes, so those must pass; 108/200 MP modes and
/// crafted headers are refused. A 50 MP camera JPEG decodes at 1/4 scale (about 9 MB), but a
/// 50 MP PNG or progressive JPEG needs 150–200 MB, about the most a low-end Android phone can
/// spare without the app being killed.
pub const DEFAULT_MAX_INPUT_PIXELS: u64 = 50_000_000;
/// Default cap on the size of an input file read by [`process_photo_file`]: 64 MiB.
///
/// A 50 MP camera JPEG is 10–25 MB; anything far beyond that is not a photo we want to read
/// into memory.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;
/// Default size budget of a stored photo: 250 kB.
///
/// At [`DEFAULT_QUALITY`] and 1600 px the benchmark's everyday scenes (a stairwell, a garbage
/// corner) come out at 130–150 kB, while wide shots of brick fronts or foliage reach 235–285 kB.
/// The budget keeps every upload to about 20 s on a 100 kbit/s 2G link.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 250_000;
/// Default lowest quality the size budget may step down to.
pub const DEFAULT_MIN_QUALITY: u8 = 70;

/// Longest edge accepted from an image header. JPEG cannot exceed it anyway; for PNG it stops
/// absurd strips (1 × 50 000 000) whose downscaled size would round to nothing.
const MAX_INPUT_EDGE: u32 = 65_535;
/// Bytes per pixel the decode budget allows: RGBA at 8 bits. 16-bit PNGs therefore get half
/// the pixel cap, which is fine — cameras do not produce them.
const BUDGET_BYTES_PER_PIXEL: u64 = 4;

/// Knobs of the photo pipeline. `PhotoOptions::default()` is what the app uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoOptions {
    /// Longest edge of the stored photo in pixels (default 1600). Smaller images are kept at
    /// their size, never upscaled. Values below 1 are treated as 1.
    pub max_edge: u32,
    /// Longest edge of the thumbnail in pixels (default 320), never larger than the photo.
    pub thumb_edge: u32,
    /// JPEG quality 1–100 (default 80); out-of-range values are clamped.
    pub quality: u8,
    /// Size budget of the stored photo in bytes (default 250 kB). A photo larger than this at
    /// `quality` is encoded again at a lower quality, never below `min_quality`; at that
    /// floor it is kept even if still larger. 0 means no budget.
    pub max_output_bytes: usize,
    /// Lowest quality the size budget may use (default 70).
    pub min_quality: u8,
    /// Largest accepted input, in pixels (width × height) read from the header; larger
    /// images fail with [`PhotoError::TooLarge`] before decoding. Default 50 MP.
    pub max_input_pixels: u64,
    /// Largest accepted input in bytes (default 64 MiB); checked before reading a file and on
    /// in-memory input alike.
    pub max_input_bytes: u64,
}

impl Default for PhotoOptions {
    fn default() -> Self {
        Self {
            max_edge: DEFAULT_MAX_EDGE,
            thumb_edge: DEFAULT_THUMB_EDGE,
            quality: DEFAULT_QUALITY,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            min_quality: DEFAULT_MIN_QUALITY,
            max_input_pixels: DEFAULT_MAX_INPUT_PIXELS,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
        }
    }
}

/// The result of the pipeline: a metadata-free JPEG, its thumbnail and its content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedPhoto {
    /// The photo as a baseline JPEG (4:2:0), orientation applied, no metadata.
    pub jpeg: Vec<u8>,
    /// Width of `jpeg` in pixels, after orientation.
    pub width: u32,
    /// Height of `jpeg` in pixels, after orientation.
    pub height: u32,
    /// The JPEG quality `jpeg` was encoded at: [`PhotoOptions::quality`], or lower when the
    /// size budget made it step down.
    pub quality: u8,
    /// A small JPEG of the same photo for lists and map pins.
    pub thumbnail: Vec<u8>,
    /// Width of `thumbnail` in pixels.
    pub thumb_width: u32,
    /// Height of `thumbnail` in pixels.
    pub thumb_height: u32,
    /// SHA-256 of `jpeg` as 64 lowercase hex digits; the store's key for the photo.
    pub sha256: String,
}

/// The image formats the pipeline accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    /// JPEG / JFIF / EXIF camera files.
    Jpeg,
    /// PNG, typically screenshots.
    Png,
}

/// Why a photo could not be processed. Messages never contain file paths or image content.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// The input had no bytes.
    #[error("the photo is empty (0 bytes)")]
    Empty,
    /// The input is neither JPEG nor PNG (e.g. HEIC, WebP, a PDF, random bytes).
    #[error("the file is not a JPEG or PNG image")]
    UnsupportedFormat,
    /// The input looks like JPEG/PNG but cannot be decoded (truncated, damaged, or a variant
    /// the decoder does not support).
    #[error("the image is damaged or cannot be decoded: {0}")]
    Corrupt(String),
    /// The image's dimensions exceed [`PhotoOptions::max_input_pixels`] (or 65535 px on an
    /// edge), or decoding it would exceed the memory budget derived from that cap.
    #[error("image too large: {width}×{height} pixels exceeds the limit of {max_pixels} pixels")]
    TooLarge {
        /// Width from the image header.
        width: u32,
        /// Height from the image header.
        height: u32,
        /// The pixel cap in force ([`PhotoOptions::max_input_pixels`]).
        max_pixels: u64,
    },
    /// The file is larger than [`PhotoOptions::max_input_bytes`].
    #[error("file too large: {size} bytes exceeds the limit of {max_bytes} bytes")]
    FileTooLarge {
        /// Size of the input in bytes.
        size: u64,
        /// The byte cap in force.
        max_bytes: u64,
    },
    /// Reading the file failed. (`std::io::Error` does not carry the path.)
    #[error("could not read the photo: {0}")]
    Io(#[from] std::io::Error),
    /// Resizing or encoding failed; this indicates a bug rather than bad input.
    #[error("could not encode the photo: {0}")]
    Encode(String),
}

/// Sniffs JPEG/PNG magic bytes.
///
/// Looks only at the signature (`FF D8 FF` for JPEG, the 8-byte PNG signature), not at the
/// file name, because gallery pickers and share intents often give misleading names.
pub fn detect_format(input: &[u8]) -> Option<ImageKind> {
    const PNG_SIGNATURE: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    if input.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageKind::Jpeg)
    } else if input.starts_with(PNG_SIGNATURE) {
        Some(ImageKind::Png)
    } else {
        None
    }
}

/// Reads a photo file (at most [`PhotoOptions::max_input_bytes`]) and runs [`process_photo`].
///
/// The size is checked from the file metadata first and the read is capped as well, so a file
/// that grows while being read cannot make us allocate more than the cap.
pub fn process_photo_file(path: &Path, opts: &PhotoOptions) -> Result<ProcessedPhoto, PhotoError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > opts.max_input_bytes {
        return Err(PhotoError::FileTooLarge {
            size,
            max_bytes: opts.max_input_bytes,
        });
    }
    let mut input = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // One byte past the cap tells a grown file apart from one exactly at the cap.
    file.take(opts.max_input_bytes.saturating_add(1))
        .read_to_end(&mut input)?;
    process_photo(&input, opts)
}

/// Turns JPEG or PNG bytes into a downscaled, orientation-corrected, metadata-free JPEG with
/// a thumbnail and a SHA-256 key.
///
/// Never panics on hostile input; memory is bounded by [`PhotoOptions::max_input_pixels`]
/// (about 4 bytes per allowed pixel for the decoded image, plus the small outputs).
pub fn process_photo(input: &[u8], opts: &PhotoOptions) -> Result<ProcessedPhoto, PhotoError> {
    if input.is_empty() {
        return Err(PhotoError::Empty);
    }
    let size = u64::try_from(input.len()).unwrap_or(u64::MAX);
    if size > opts.max_input_bytes {
        return Err(PhotoError::FileTooLarge {
            size,
            max_bytes: opts.max_input_bytes,
        });
    }
    let kind = detect_format(input).ok_or(PhotoError::UnsupportedFormat)?;
    if kind == ImageKind::Jpeg && !jpeg_has_end_marker(input) {
        // JPEG decoders render what they have (grey or smeared rows) instead of failing; a
        // half-missing photo is useless as evidence, so the user should retake or re-pick it.
        return Err(PhotoError::Corrupt(
            "the image data ends early (truncated file)".into(),
        ));
    }
    let max_edge = opts.max_edge.max(1);
    let quality = opts.quality.clamp(1, 100);

    let decoded = decode(input, kind, opts.max_input_pixels, max_edge)?;

    // Orientation is applied after resizing; rotation by multiples of 90° keeps the long edge,
    // so target sizes can be computed on the stored (unrotated) dimensions.
    let (w, h) = fit_within(decoded.source_width, decoded.source_height, max_edge);
    let small = if (decoded.width, decoded.height) == (w, h) {
        decoded.rgb
    } else {
        resize_rgb(&decoded.rgb, decoded.width, decoded.height, w, h)?
    };
    let (thumb_w, thumb_h) = fit_within(w, h, opts.thumb_edge.max(1));
    let orientation = decoded.orientation;

    // The thumbnail is made from the same downscaled pixels on a second thread while this one
    // rotates and encodes the photo; both are deterministic, so the bytes do not depend on
    // which finishes first.
    let (photo, thumb) = std::thread::scope(|scope| {
        let thumb_job = scope.spawn(|| -> Result<_, PhotoError> {
            let thumb = resize_rgb(&small, w, h, thumb_w, thumb_h)?;
            let (thumb, tw, th) = orient(&thumb, thumb_w, thumb_h, orientation);
            Ok((encode_jpeg(&thumb, tw, th, quality)?, tw, th))
        });
        let photo = {
            let (pixels, width, height) = orient(&small, w, h, orientation);
            encode_within_budget(&pixels, width, height, quality, opts)
                .map(|(jpeg, q)| (jpeg, q, width, height))
        };
        let thumb = thumb_job
            .join()
            .unwrap_or_else(|_| Err(PhotoError::Encode("the thumbnail thread failed".into())));
        (photo, thumb)
    });
    let (jpeg, used_quality, width, height) = photo?;
    let (thumbnail, thumb_width, thumb_height) = thumb?;

    let sha256 = hex::encode(Sha256::digest(&jpeg));
    Ok(ProcessedPhoto {
        jpeg,
        width,
        height,
        quality: used_quality,
        thumbnail,
        thumb_width,
        thumb_height,
        sha256,
    })
}

/// Decoded pixels, packed RGB8, possibly already reduced in size by the JPEG decoder.
struct Decoded {
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    /// Size in the file, before any decode-time reduction: the output size derives from it.
    source_width: u32,
    source_height: u32,
    orientation: Orientation,
}

/// Decodes under limits, checking the header's dimensions before any pixel buffer exists.
fn decode(
    input: &[u8],
    kind: ImageKind,
    max_pixels: u64,
    max_edge: u32,
) -> Result<Decoded, PhotoError> {
    if kind == ImageKind::Jpeg
        && let Some(decoded) = decode_jpeg_scaled(input, max_pixels, max_edge)?
    {
        return Ok(decoded);
    }
    decode_with_image(input, kind, max_pixels)
}

/// Rejects images over the pixel cap (or absurdly long strips) using header dimensions only.
fn check_dimensions(width: u32, height: u32, max_pixels: u64) -> Result<(), PhotoError> {
    if u64::from(width) * u64::from(height) > max_pixels
        || width > MAX_INPUT_EDGE
        || height > MAX_INPUT_EDGE
    {
        return Err(PhotoError::TooLarge {
            width,
            height,
            max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(PhotoError::Corrupt("the image has no pixels".into()));
    }
    Ok(())
}

/// Decodes an RGB or greyscale JPEG directly at a reduced scale (1/2, 1/4 or 1/8) when the
/// output is that much smaller, using `jpeg-decoder`'s scaled IDCT.
///
/// Why a second decoder: the one inside `image` (zune-jpeg) always decodes at full size. A
/// 12 MP photo decoded at 1/2 scale needs a 9 MB buffer instead of 36 MB and skips most of
/// the resize work — on the benchmark that took the pipeline from 94 ms to 82 ms. The decoder is built with
/// `platform_independent`, so the pixels (and hence the stored photo's hash) do not depend on
/// the phone's CPU. Returns `None` for what it does not handle (CMYK, 16-bit lossless), which
/// then goes through `image`.
fn decode_jpeg_scaled(
    input: &[u8],
    max_pixels: u64,
    max_edge: u32,
) -> Result<Option<Decoded>, PhotoError> {
    let mut decoder = jpeg_decoder::Decoder::new(input);
    decoder.read_info().map_err(jpeg_error)?;
    let info = decoder
        .info()
        .ok_or_else(|| PhotoError::Corrupt("the JPEG has no frame header".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_dimensions(width, height, max_pixels)?;
    let channels: usize = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => 3,
        jpeg_decoder::PixelFormat::L8 => 1,
        _ => return Ok(None),
    };

    let (target_w, target_h) = fit_within(width, height, max_edge);
    let too_big = |_| PhotoError::Encode("target size exceeds the JPEG limit".into());
    let (scaled_w, scaled_h) = decoder
        .scale(
            u16::try_from(target_w).map_err(too_big)?,
            u16::try_from(target_h).map_err(too_big)?,
        )
        .map_err(jpeg_error)?;
    let budget = max_pixels.saturating_mul(BUDGET_BYTES_PER_PIXEL);
    decoder.set_max_decoding_buffer_size(usize::try_from(budget).unwrap_or(usize::MAX));
    let pixels = decoder.decode().map_err(jpeg_error)?;

    let (scaled_w, scaled_h) = (u32::from(scaled_w), u32::from(scaled_h));
    let expected = scaled_w as usize * scaled_h as usize * channels;
    if pixels.len() != expected {
        return Err(PhotoError::Corrupt(
            "decoded size does not match the header".into(),
        ));
    }
    let rgb = if channels == 1 {
        pixels.iter().flat_map(|&l| [l, l, l]).collect()
    } else {
        pixels
    };
    // A damaged EXIF block should not cost the user the photo: fall back to "as stored".
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    Ok(Some(Decoded {
        rgb,
        width: scaled_w,
        height: scaled_h,
        source_width: width,
        source_height: height,
        orientation,
    }))
}

/// Maps `jpeg-decoder` errors to the public error.
fn jpeg_error(err: jpeg_decoder::Error) -> PhotoError {
    match err {
        jpeg_decoder::Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            PhotoError::Corrupt("the image data ends early (truncated file)".into())
        }
        other => PhotoError::Corrupt(other.to_string()),
    }
}

/// Decodes PNG (and the JPEG variants [`decode_jpeg_scaled`] leaves out) with `image` under
/// [`image::Limits`], at full size.
fn decode_with_image(
    input: &[u8],
    kind: ImageKind,
    max_pixels: u64,
) -> Result<Decoded, PhotoError> {
    let format = match kind {
        ImageKind::Jpeg => ImageFormat::Jpeg,
        ImageKind::Png => ImageFormat::Png,
    };
    let budget = max_pixels.saturating_mul(BUDGET_BYTES_PER_PIXEL);
    // Only the allocation budget while reading the header: the PNG decoder takes its limits at
    // construction and would otherwise reject an oversized header with a bare limit error,
    // losing the dimensions we want to report.
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(budget);
    let mut reader = ImageReader::with_format(Cursor::new(input), format);
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;

    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, max_pixels)?;
    let too_large = || PhotoError::TooLarge {
        width,
        height,
        max_pixels,
    };
    if decoder.total_bytes() > budget {
        // e.g. a 16-bit RGBA PNG near the pixel cap.
        return Err(too_large());
    }

    // A damaged EXIF block should not cost the user the photo: fall back to "as stored".
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);

    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_INPUT_EDGE);
    limits.max_image_height = Some(MAX_INPUT_EDGE);
    limits.max_alloc = Some(budget);
    let limit_error = |e| match e {
        ImageError::Limits(_) => too_large(),
        other => decode_error(other),
    };
    decoder.set_limits(limits).map_err(limit_error)?;
    let image = DynamicImage::from_decoder(decoder).map_err(limit_error)?;
    Ok(Decoded {
        rgb: to_rgb8_on_white(image),
        width,
        height,
        source_width: width,
        source_height: height,
        orientation,
    })
}

/// Whether a JPEG has an end-of-image marker after its first scan header.
///
/// Walks the header segments by their lengths (so an EXIF thumbnail's own end marker inside
/// APP1 is skipped), then looks for `FF D9` in the scan data, where byte stuffing guarantees
/// it can only be a real marker. Bytes after the end marker (multi-picture trailers) are fine.
fn jpeg_has_end_marker(input: &[u8]) -> bool {
    let mut i = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while input.get(i) == Some(&0xFF) && input.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (input.get(i), input.get(i + 1)) else {
            return false;
        };
        match marker {
            // Start of scan: the end marker must follow somewhere in the rest of the file.
            0xDA => {
                // Searched from the back: the marker is normally in the last two bytes.
                return input
                    .get(i + 2..)
                    .is_some_and(|rest| rest.windows(2).rev().any(|w| w == [0xFF, 0xD9]));
            }
            0xD9 => return false,
            // Stand-alone markers without a length field.
            0x01 | 0xD0..=0xD7 => i += 2,
            _ => {
                let (Some(&hi), Some(&lo)) = (input.get(i + 2), input.get(i + 3)) else {
                    return false;
                };
                i += 2 + usize::from(u16::from_be_bytes([hi, lo]));
            }
        }
    }
}

/// Maps decoder errors to the public error. Decoder messages describe the data, not the
/// user, so they are kept for diagnosis.
fn decode_error(err: ImageError) -> PhotoError {
    match err {
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            PhotoError::Corrupt("the image data ends early (truncated file)".into())
        }
        ImageError::Limits(e) => PhotoError::Corrupt(format!("decoder limit reached: {e}")),
        other => PhotoError::Corrupt(other.to_string()),
    }
}

/// Converts any decoded colour type to packed RGB8, compositing transparency onto white:
/// screenshots with transparent areas would otherwise turn black in a JPEG.
fn to_rgb8_on_white(image: DynamicImage) -> Vec<u8> {
    match image {
        DynamicImage::ImageRgb8(buf) => buf.into_raw(),
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageRgb16(_) => image.to_rgb8().into_raw(),
        other => {
            let rgba = other.into_rgba8();
            let mut out = Vec::with_capacity(rgba.as_raw().len() / 4 * 3);
            for px in rgba.as_raw().chunks_exact(4) {
                let a = u32::from(px[3]);
                for &c in &px[..3] {
                    // Rounded integer blend: c·a + 255·(1−a), exact for a = 0 and a = 255.
                    let v = (u32::from(c) * a + 255 * (255 - a) + 127) / 255;
                    out.push(u8::try_from(v).unwrap_or(u8::MAX));
                }
            }
            out
        }
    }
}

/// Size that fits `(w, h)` within `max_edge` on the long side, keeping the aspect ratio and
/// never enlarging. Each side stays at least 1 px.
fn fit_within(w: u32, h: u32, max_edge: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= max_edge {
        return (w, h);
    }
    let scale = |side: u32| -> u32 {
        // Integer rounding keeps the result identical on every platform.
        let v = (u64::from(side) * u64::from(max_edge) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(v).unwrap_or(max_edge).clamp(1, max_edge)
    };
    if w >= h {
        (max_edge, scale(h))
    } else {
        (scale(w), max_edge)
    }
}

/// Resizes packed RGB8 with Lanczos3 into a new buffer.
fn resize_rgb(
    src: &[u8],
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
) -> Result<Vec<u8>, PhotoError> {
    if (src_w, src_h) == (dst_w, dst_h) {
        return Ok(src.to_vec());
    }
    let src_image = fir::images::ImageRef::new(src_w, src_h, src, fir::PixelType::U8x3)
        .map_err(|e| PhotoError::Encode(format!("resize input: {e}")))?;
    let mut dst_image = fir::images::Image::new(dst_w, dst_h, fir::PixelType::U8x3);
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3));
    fir::Resizer::new()
        .resize(&src_image, &mut dst_image, &options)
        .map_err(|e| PhotoError::Encode(format!("resize: {e}")))?;
    Ok(dst_image.into_vec())
}

/// Applies an EXIF orientation to packed RGB8 (`w`×`h`), so viewers that ignore EXIF (and our
/// metadata-free output) show the photo upright. Returns the pixels and their new size.
///
/// Every orientation maps output pixels to input pixels affinely, so one loop serves all
/// eight; it walks the output in 32×32 tiles so that rotations, which read the input down
/// its columns, stay within the cache (the `image` crate's per-pixel rotation took ~4 ms for
/// a 1600×1200 photo). An upright photo is passed through without a copy.
fn orient(rgb: &[u8], w: u32, h: u32, orientation: Orientation) -> (Cow<'_, [u8]>, u32, u32) {
    const TILE: usize = 32;
    let (wi, hi) = (w as isize, h as isize);
    // (first input pixel, input step per output column, input step per output row, swaps)
    let (base, step_x, step_y, swaps) = match orientation {
        Orientation::NoTransforms => return (Cow::Borrowed(rgb), w, h),
        Orientation::FlipHorizontal => (wi - 1, -1, wi, false),
        Orientation::Rotate180 => ((hi - 1) * wi + wi - 1, -1, -wi, false),
        Orientation::FlipVertical => ((hi - 1) * wi, 1, -wi, false),
        Orientation::Rotate90 => ((hi - 1) * wi, -wi, 1, true),
        Orientation::Rotate270 => (wi - 1, wi, -1, true),
        Orientation::Rotate90FlipH => (0, wi, 1, true),
        Orientation::Rotate270FlipH => ((hi - 1) * wi + wi - 1, -wi, -1, true),
    };
    let (ow, oh) = if swaps { (h, w) } else { (w, h) };
    let (owu, ohu) = (ow as usize, oh as usize);
    let mut out = vec![0u8; rgb.len()];
    for ty in (0..ohu).step_by(TILE) {
        for tx in (0..owu).step_by(TILE) {
            for oy in ty..(ty + TILE).min(ohu) {
                let mut src = base + tx as isize * step_x + oy as isize * step_y;
                let row = &mut out[(oy * owu + tx) * 3..(oy * owu + (tx + TILE).min(owu)) * 3];
                for px in row.chunks_exact_mut(3) {
                    let at = src as usize * 3;
                    px.copy_from_slice(&rgb[at..at + 3]);
                    src += step_x;
                }
            }
        }
    }
    (Cow::Owned(out), ow, oh)
}

/// Encodes at `quality`, stepping the quality down while the photo exceeds the size budget.
///
/// Near quality 80 one step is worth 3–5 % of the size (measured on the benchmark's building
/// fronts: 284.7 kB at q80, 231.9 kB at q73), so stepping by the excess over 3 % usually
/// lands under the budget at the first retry; each further retry steps at least one more.
fn encode_within_budget(
    rgb: &[u8],
    w: u32,
    h: u32,
    quality: u8,
    opts: &PhotoOptions,
) -> Result<(Vec<u8>, u8), PhotoError> {
    let floor = opts.min_quality.clamp(1, quality);
    let mut q = quality;
    let mut jpeg = encode_jpeg(rgb, w, h, q)?;
    while opts.max_output_bytes > 0 && jpeg.len() > opts.max_output_bytes && q > floor {
        let over = jpeg.len() as f64 / opts.max_output_bytes as f64 - 1.0;
        let steps = (over / 0.03).ceil().clamp(1.0, 100.0) as u8;
        q = q.saturating_sub(steps).max(floor);
        jpeg = encode_jpeg(rgb, w, h, q)?;
    }
    Ok((jpeg, q))
}

/// Encodes packed RGB8 as a metadata-free baseline JPEG.
fn encode_jpeg(rgb: &[u8], w: u32, h: u32, quality: u8) -> Result<Vec<u8>, PhotoError> {
    let too_wide = |_| PhotoError::Encode(format!("{w}×{h} exceeds the JPEG size limit"));
    let (w16, h16) = (
        u16::try_from(w).map_err(too_wide)?,
        u16::try_from(h).map_err(too_wide)?,
    );
    let mut out = Vec::with_capacity(rgb.len() / 10);
    let mut encoder = Encoder::new(&mut out, quality);
    // 4:2:0 halves the chroma data; averaging (not picking one pixel) avoids colour fringes.
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    // ImageMagick's (N. Robidoux's) tables, scaled by the same quality: on the benchmark's
    // camera scenes 8% smaller than the JPEG standard's Annex K tables at q80 and closer to the
    // source (PSNR 37.1 dB against 36.2 dB).
    encoder.set_quantization_tables(
        QuantizationTableType::ImageMagick,
        QuantizationTableType::ImageMagick,
    );
    // jpeg-encoder's own optimised Huffman tables would switch to one scan per component,
    // which the decoder inside `image` 0.25 (zune-jpeg 0.5.15) renders with wrong colours
    // for 4:2:0 (zune-image #422). So it writes one interleaved scan with the standard
    // tables, and `huffman::optimize` rewrites that scan's entropy coding losslessly.
    encoder
        .encode(rgb, w16, h16, ColorType::Rgb)
        .map_err(|e| PhotoError::Encode(e.to_string()))?;
    Ok(huffman::optimize(&out).unwrap_or(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use image::{ExtendedColorType, ImageEncoder, Rgb};

    const RED: [u8; 3] = [220, 20, 20];
    const GREY: [u8; 3] = [120, 120, 120];

    /// A grey RGB image with a red square in the top-left corner, as a JPEG straight from
    /// a "camera" (stored orientation, i.e. before EXIF rotation).
    fn marked_jpeg(w: u32, h: u32) -> Vec<u8> {
        let side = (w.min(h) / 4).max(1);
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                let px = if x < side && y < side { RED } else { GREY };
                rgb.extend_from_slice(&px);
            }
        }
        let mut out = Vec::new();
        let mut enc = Encoder::new(&mut out, 95);
        enc.set_sampling_factor(SamplingFactor::R_4_4_4);
        enc.encode(&rgb, w as u16, h as u16, ColorType::Rgb)
            .unwrap();
        out
    }

    /// An APP1 payload ("Exif\0\0" + little-endian TIFF) with an orientation tag and,
    /// optionally, a GPS IFD and a camera make — the personal data that must never leave.
    fn exif_payload(orientation: u16, gps: bool) -> Vec<u8> {
        let mut t: Vec<u8> = b"II*\0".to_vec();
        t.extend_from_slice(&8u32.to_le_bytes());
        let entries: u16 = if gps { 3 } else { 1 };
        let ifd0_end = 8 + 2 + u32::from(entries) * 12 + 4;
        t.extend_from_slice(&entries.to_le_bytes());
        let entry = |t: &mut Vec<u8>, tag: u16, typ: u16, count: u32, value: u32| {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&typ.to_le_bytes());
            t.extend_from_slice(&count.to_le_bytes());
            t.extend_from_slice(&value.to_le_bytes());
        };
        let make = b"GridCam\0";
        if gps {
            entry(&mut t, 0x010F, 2, make.len() as u32, ifd0_end);
        }
        entry(&mut t, 0x0112, 3, 1, u32::from(orientation));
        let gps_ifd = ifd0_end + make.len() as u32;
        if gps {
            entry(&mut t, 0x8825, 4, 1, gps_ifd);
        }
        t.extend_from_slice(&0u32.to_le_bytes());
        if gps {
            t.extend_from_slice(make);
            // GPS IFD: latitude ref + latitude (3 rationals) pointing just past the IFD.
            let rationals = gps_ifd + 2 + 2 * 12 + 4;
            t.extend_from_slice(&2u16.to_le_bytes());
            entry(&mut t, 0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0"));
            entry(&mut t, 0x0002, 5, 3, rationals);
            t.extend_from_slice(&0u32.to_le_bytes());
            for (num, den) in [(39u32, 1u32), (54, 1), (2712, 100)] {
                t.extend_from_slice(&num.to_le_bytes());
                t.extend_from_slice(&den.to_le_bytes());
            }
        }
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend_from_slice(&t);
        payload
    }

    /// Inserts an APP1 segment right after SOI, where cameras put EXIF.
    fn with_app1(jpeg: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    /// Bytes of metadata in a JPEG: APP1..APP15 and COM segments, plus anything after EOI.
    fn metadata_bytes(jpeg: &[u8]) -> usize {
        let mut count = 0;
        let mut i = 2;
        while i + 2 <= jpeg.len() {
            assert_eq!(jpeg[i], 0xFF, "segment marker expected at {i}");
            let marker = jpeg[i + 1];
            if marker == 0xD9 {
                return count + jpeg.len() - (i + 2);
            }
            let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
            if (0xE1..=0xEF).contains(&marker) || marker == 0xFE {
                count += len + 2;
            }
            i += 2 + len;
            if marker == 0xDA {
                // Skip entropy-coded data up to the next real marker.
                while i + 1 < jpeg.len()
                    && !(jpeg[i] == 0xFF
                        && jpeg[i + 1] != 0
                        && !(0xD0..=0xD7).contains(&jpeg[i + 1]))
                {
                    i += 1;
                }
            }
        }
        panic!("no EOI marker");
    }

    fn pixel(jpeg: &[u8], x: u32, y: u32) -> [u8; 3] {
        let img = image::load_from_memory(jpeg).unwrap().into_rgb8();
        img.get_pixel(x, y).0
    }

    fn is_red(px: [u8; 3]) -> bool {
        px[0] > 180 && px[1] < 80 && px[2] < 80
    }

    fn png(w: u32, h: u32, rgba: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(rgba, w, h, ExtendedColorType::Rgba8)
            .unwrap();
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }

    /// A few-hundred-byte PNG whose header claims 30000×30000 greyscale: the classic
    /// decompression bomb (the pixel data would be 900 MB of zeros, 2.7 GB as RGB).
    fn png_bomb() -> Vec<u8> {
        let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&30_000u32.to_be_bytes());
        ihdr.extend_from_slice(&30_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
        png_chunk(&mut out, b"IHDR", &ihdr);
        // zlib stream of one stored block holding the first two rows' worth of zeros; a
        // decoder that ignored the header check would start inflating from here.
        let mut idat = vec![0x78, 0x01, 0x00];
        let n: u16 = 60_002;
        idat.extend_from_slice(&n.to_le_bytes());
        idat.extend_from_slice(&(!n).to_le_bytes());
        idat.extend(std::iter::repeat_n(0u8, usize::from(n)));
        png_chunk(&mut out, b"IDAT", &idat);
        png_chunk(&mut out, b"IEND", &[]);
        out
    }

    fn process(input: &[u8]) -> Result<ProcessedPhoto, PhotoError> {
        process_photo(input, &PhotoOptions::default())
    }

    #[test]
    fn detect_format_recognises_jpeg_and_png_by_magic_bytes() {
        assert_eq!(detect_format(&marked_jpeg(8, 8)), Some(ImageKind::Jpeg));
        assert_eq!(detect_format(&png(1, 1, &[0; 4])), Some(ImageKind::Png));
        assert_eq!(detect_format(b"GIF89a"), None);
        assert_eq!(detect_format(&[]), None);
    }

    #[test]
    fn orientation_6_rotates_clockwise_and_swaps_dimensions() {
        let input = with_app1(&marked_jpeg(400, 200), &exif_payload(6, false));
        let out = process(&input).unwrap();
        assert_eq!((out.width, out.height), (200, 400));
        // Rotating 90° clockwise carries the top-left marker to the top-right corner.
        assert!(is_red(pixel(&out.jpeg, 190, 10)));
        assert!(!is_red(pixel(&out.jpeg, 10, 10)));
        assert_eq!((out.thumb_width, out.thumb_height), (160, 320));
    }

    #[test]
    fn orientation_3_rotates_half_a_turn() {
        let input = with_app1(&marked_jpeg(400, 200), &exif_payload(3, false));
        let out = process(&input).unwrap();
        assert_eq!((out.width, out.height), (400, 200));
        assert!(is_red(pixel(&out.jpeg, 390, 190)));
        assert!(!is_red(pixel(&out.jpeg, 10, 10)));
    }

    #[test]
    fn orientation_8_rotates_counter_clockwise_and_swaps_dimensions() {
        let input = with_app1(&marked_jpeg(400, 200), &exif_payload(8, false));
        let out = process(&input).unwrap();
        assert_eq!((out.width, out.height), (200, 400));
        assert!(is_red(pixel(&out.jpeg, 10, 390)));
        assert!(!is_red(pixel(&out.jpeg, 10, 10)));
    }

    #[test]
    fn orient_matches_the_image_crate_for_every_orientation() {
        // Larger than one 32×32 tile and not a multiple of it, non-square.
        let (w, h) = (75u32, 41u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        for orientation in [
            Orientation::NoTransforms,
            Orientation::Rotate90,
            Orientation::Rotate180,
            Orientation::Rotate270,
            Orientation::FlipHorizontal,
            Orientation::FlipVertical,
            Orientation::Rotate90FlipH,
            Orientation::Rotate270FlipH,
        ] {
            let mut expected =
                DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, rgb.clone()).unwrap());
            expected.apply_orientation(orientation);
            let (out, ow, oh) = orient(&rgb, w, h, orientation);
            assert_eq!(
                (ow, oh),
                (expected.width(), expected.height()),
                "{orientation:?}"
            );
            assert_eq!(*out, *expected.into_rgb8().into_raw(), "{orientation:?}");
        }
    }

    #[test]
    fn orientation_survives_downscaling() {
        let input = with_app1(&marked_jpeg(3200, 2400), &exif_payload(6, false));
        let out = process(&input).unwrap();
        assert_eq!((out.width, out.height), (1200, 1600));
        assert!(is_red(pixel(&out.jpeg, 1190, 10)));
    }

    #[test]
    fn large_image_is_downscaled_to_max_edge_keeping_aspect() {
        let out = process(&marked_jpeg(3000, 1000)).unwrap();
        assert_eq!((out.width, out.height), (1600, 533));
        assert_eq!((out.thumb_width, out.thumb_height), (320, 107));
        let img = image::load_from_memory(&out.jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (1600, 533));
        let thumb = image::load_from_memory(&out.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 107));
    }

    #[test]
    fn max_edge_is_configurable() {
        let opts = PhotoOptions {
            max_edge: 800,
            thumb_edge: 100,
            ..PhotoOptions::default()
        };
        let out = process_photo(&marked_jpeg(1000, 3000), &opts).unwrap();
        assert_eq!((out.width, out.height), (267, 800));
        assert_eq!((out.thumb_width, out.thumb_height), (33, 100));
    }

    /// A camera JPEG of busy texture: hashed noise over gradients, hard to compress.
    fn busy_jpeg(w: u32, h: u32) -> Vec<u8> {
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let hash = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ (c * 97))
                        .wrapping_mul(2_246_822_519);
                    rgb.push(((hash >> 24) as u8 / 2).wrapping_add((x / 4 + y / 3) as u8 / 2));
                }
            }
        }
        let mut out = Vec::new();
        Encoder::new(&mut out, 95)
            .encode(&rgb, w as u16, h as u16, ColorType::Rgb)
            .unwrap();
        out
    }

    #[test]
    fn a_photo_over_the_size_budget_steps_its_quality_down() {
        let input = busy_jpeg(640, 480);
        let unbounded = PhotoOptions {
            max_output_bytes: 0,
            ..PhotoOptions::default()
        };
        let full = process_photo(&input, &unbounded).unwrap();
        assert_eq!(full.quality, DEFAULT_QUALITY);

        // A budget 12 % under the q80 size: a lower quality fits it.
        let budget = full.jpeg.len() * 88 / 100;
        let opts = PhotoOptions {
            max_output_bytes: budget,
            ..PhotoOptions::default()
        };
        let fitted = process_photo(&input, &opts).unwrap();
        assert!(
            fitted.jpeg.len() <= budget,
            "{} > {budget}",
            fitted.jpeg.len()
        );
        assert!((DEFAULT_MIN_QUALITY..DEFAULT_QUALITY).contains(&fitted.quality));
        assert_eq!((fitted.width, fitted.height), (full.width, full.height));
        // The thumbnail is not part of the budget and keeps the configured quality.
        assert_eq!(fitted.thumbnail, full.thumbnail);

        // A budget no quality above the floor can meet: the floor's photo is kept.
        let tiny = PhotoOptions {
            max_output_bytes: 1000,
            ..PhotoOptions::default()
        };
        let floor = process_photo(&input, &tiny).unwrap();
        assert_eq!(floor.quality, DEFAULT_MIN_QUALITY);
        assert!(floor.jpeg.len() > 1000);
        image::load_from_memory(&floor.jpeg).unwrap();
    }

    #[test]
    fn a_photo_within_the_budget_keeps_the_configured_quality() {
        let photo = process_photo(&marked_jpeg(1200, 900), &PhotoOptions::default()).unwrap();
        assert_eq!(photo.quality, DEFAULT_QUALITY);
        assert!(photo.jpeg.len() < DEFAULT_MAX_OUTPUT_BYTES);
        // A configured quality below the floor is used as is, never raised.
        let low = PhotoOptions {
            quality: 50,
            max_output_bytes: 1000,
            ..PhotoOptions::default()
        };
        assert_eq!(
            process_photo(&marked_jpeg(1200, 900), &low)
                .unwrap()
                .quality,
            50
        );
    }

    #[test]
    fn small_images_are_not_upscaled() {
        let out = process(&marked_jpeg(120, 90)).unwrap();
        assert_eq!((out.width, out.height), (120, 90));
        assert_eq!((out.thumb_width, out.thumb_height), (120, 90));
    }

    #[test]
    fn output_has_no_metadata_even_when_input_had_exif_with_gps() {
        let exif = exif_payload(1, true);
        let input = with_app1(&marked_jpeg(640, 480), &exif);
        assert!(metadata_bytes(&input) > 0, "the fixture must carry EXIF");
        let out = process(&input).unwrap();
        assert_eq!(metadata_bytes(&out.jpeg), 0);
        assert_eq!(metadata_bytes(&out.thumbnail), 0);
        let leaks = |hay: &[u8]| hay.windows(4).any(|w| w == b"Exif" || w == b"Grid");
        assert!(!leaks(&out.jpeg) && !leaks(&out.thumbnail));
    }

    #[test]
    fn identical_input_gives_identical_bytes_and_sha() {
        let input = with_app1(&marked_jpeg(2000, 1500), &exif_payload(6, true));
        let a = process(&input).unwrap();
        let b = process(&input).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.sha256, hex::encode(Sha256::digest(&a.jpeg)));
        assert_eq!(a.sha256.len(), 64);
        assert!(
            a.sha256
                .bytes()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        );
        let other = process(&marked_jpeg(2000, 1499)).unwrap();
        assert_ne!(a.sha256, other.sha256);
    }

    #[test]
    fn zero_bytes_is_empty() {
        assert!(matches!(process(&[]), Err(PhotoError::Empty)));
    }

    #[test]
    fn a_non_image_is_unsupported_format() {
        for input in [
            &b"%PDF-1.7 hello"[..],
            b"\x00\x00\x00\x1cftypheic",
            b"GIF89a......",
        ] {
            assert!(matches!(process(input), Err(PhotoError::UnsupportedFormat)));
        }
    }

    #[test]
    fn a_truncated_jpeg_is_corrupt() {
        let jpeg = marked_jpeg(640, 480);
        for cut in [3, 20, jpeg.len() / 2, jpeg.len() - 2] {
            let result = process(&jpeg[..cut]);
            assert!(
                matches!(result, Err(PhotoError::Corrupt(_))),
                "cut at {cut}: {result:?}"
            );
        }
    }

    #[test]
    fn a_jpeg_with_damaged_headers_is_corrupt() {
        let jpeg = marked_jpeg(640, 480);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let dht = jpeg.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
        let mut zero_components = jpeg.clone();
        zero_components[sof + 9] = 0;
        let mut twelve_bit = jpeg.clone();
        twelve_bit[sof + 4] = 12;
        let mut bad_huffman = jpeg.clone();
        bad_huffman[dht + 5..dht + 21].fill(0xFF);
        for (name, input) in [
            ("zero components", zero_components),
            ("12-bit precision", twelve_bit),
            ("bad Huffman table", bad_huffman),
        ] {
            let result = process(&input);
            assert!(
                matches!(result, Err(PhotoError::Corrupt(_))),
                "{name}: {result:?}"
            );
        }
    }

    #[test]
    fn a_jpeg_with_garbage_scan_data_does_not_panic() {
        // Scrambled entropy data is not detectable in general (any bit string decodes to
        // something), so the promise is: no panic, and an image of the declared size if any.
        let mut jpeg = marked_jpeg(640, 480);
        let len = jpeg.len();
        for (i, b) in jpeg[len / 3..len - 2].iter_mut().enumerate() {
            *b = (i * 37 % 251) as u8;
        }
        if let Ok(out) = process(&jpeg) {
            assert_eq!((out.width, out.height), (640, 480));
        }
    }

    #[test]
    fn random_byte_damage_never_panics() {
        let jpeg = with_app1(&marked_jpeg(96, 64), &exif_payload(6, true));
        let rgba: Vec<u8> = (0..48 * 32 * 4).map(|i| (i * 13 % 256) as u8).collect();
        let png = png(48, 32, &rgba);
        // PHOTO_DAMAGE_RUNS=20000 makes this a longer local soak.
        let runs: u64 = std::env::var("PHOTO_DAMAGE_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for original in [&jpeg, &png] {
            for _ in 0..runs {
                let mut input = original.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % input.len() as u64) as usize;
                    input[at] = next() as u8;
                }
                // Any outcome but a panic is acceptable.
                let _ = process(&input);
            }
        }
    }

    #[test]
    fn a_truncated_png_is_corrupt() {
        let rgba: Vec<u8> = (0..64 * 64 * 4).map(|i| (i * 7 % 256) as u8).collect();
        let png = png(64, 64, &rgba);
        for cut in [8, 20, png.len() / 2, png.len() - 12] {
            let result = process(&png[..cut]);
            assert!(
                matches!(result, Err(PhotoError::Corrupt(_))),
                "cut at {cut}: {result:?}"
            );
        }
    }

    #[test]
    fn a_100_megapixel_jpeg_is_too_large_before_decoding() {
        // Patch the frame header of a small JPEG to claim 10000×10000.
        let mut jpeg = marked_jpeg(64, 64);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 7].copy_from_slice(&10_000u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&10_000u16.to_be_bytes());
        match process(&jpeg) {
            Err(PhotoError::TooLarge {
                width,
                height,
                max_pixels,
            }) => {
                assert_eq!((width, height, max_pixels), (10_000, 10_000, 50_000_000));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn a_png_bomb_returns_an_error_quickly() {
        let bomb = png_bomb();
        assert!(bomb.len() < 70_000);
        let start = std::time::Instant::now();
        let result = process(&bomb);
        assert!(
            matches!(
                result,
                Err(PhotoError::TooLarge {
                    width: 30_000,
                    height: 30_000,
                    ..
                })
            ),
            "{result:?}"
        );
        // Rejected from the header: no 900 MB buffer is ever allocated or zeroed.
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        let msg = result.err().unwrap().to_string();
        assert!(msg.contains("image too large"), "{msg}");
    }

    #[test]
    fn the_pixel_cap_is_configurable() {
        let opts = PhotoOptions {
            max_input_pixels: 10_000,
            ..PhotoOptions::default()
        };
        assert!(matches!(
            process_photo(&marked_jpeg(200, 100), &opts),
            Err(PhotoError::TooLarge {
                width: 200,
                height: 100,
                max_pixels: 10_000
            })
        ));
        assert!(process_photo(&marked_jpeg(100, 100), &opts).is_ok());
    }

    #[test]
    fn png_with_alpha_is_flattened_on_white() {
        // Left half fully transparent (with black colour values), right half opaque red,
        // and one half-transparent blue column in the middle.
        let (w, h) = (100u32, 40u32);
        let mut rgba = Vec::new();
        for _y in 0..h {
            for x in 0..w {
                let px = match x {
                    0..50 => [0, 0, 0, 0],
                    50 => [0, 0, 255, 128],
                    _ => [220, 20, 20, 255],
                };
                rgba.extend_from_slice(&px);
            }
        }
        let out = process(&png(w, h, &rgba)).unwrap();
        let img = image::load_from_memory(&out.jpeg).unwrap().into_rgb8();
        let white = img.get_pixel(10, 20).0;
        assert!(white.iter().all(|&c| c > 245), "{white:?}");
        assert!(is_red(img.get_pixel(90, 20).0));
        assert_eq!(metadata_bytes(&out.jpeg), 0);
    }

    #[test]
    fn greyscale_jpeg_is_accepted() {
        let mut out = Vec::new();
        Encoder::new(&mut out, 90)
            .encode(&[128u8; 64 * 48], 64, 48, ColorType::Luma)
            .unwrap();
        let photo = process(&out).unwrap();
        let img = image::load_from_memory(&photo.jpeg).unwrap().into_rgb8();
        let Rgb(px) = *img.get_pixel(5, 5);
        assert!(px.iter().all(|&c| (120..=136).contains(&c)), "{px:?}");
    }

    #[test]
    fn a_large_jpeg_is_decoded_at_reduced_scale() {
        let input = marked_jpeg(6400, 4800);
        let decoded = decode(&input, ImageKind::Jpeg, DEFAULT_MAX_INPUT_PIXELS, 1600).unwrap();
        // 1/4 scale lands exactly on the output size: a 31 MB buffer becomes 5.8 MB.
        assert_eq!((decoded.width, decoded.height), (1600, 1200));
        assert_eq!((decoded.source_width, decoded.source_height), (6400, 4800));
        let out = process(&input).unwrap();
        assert_eq!((out.width, out.height), (1600, 1200));
        assert!(is_red(pixel(&out.jpeg, 10, 10)));
        assert!(!is_red(pixel(&out.jpeg, 1590, 1190)));
    }

    #[test]
    fn a_cmyk_jpeg_is_decoded_by_the_fallback_decoder() {
        let (w, h) = (64u16, 48u16);
        let cmyk: Vec<u8> = (0..usize::from(w) * usize::from(h))
            .flat_map(|_| [0u8, 200, 200, 0])
            .collect();
        let mut jpeg = Vec::new();
        Encoder::new(&mut jpeg, 90)
            .encode(&cmyk, w, h, ColorType::Cmyk)
            .unwrap();
        let out = process(&jpeg).unwrap();
        assert_eq!((out.width, out.height), (64, 48));
        assert_eq!(metadata_bytes(&out.jpeg), 0);
    }

    #[test]
    fn process_photo_file_reads_a_file_and_caps_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.jpg");
        let input = with_app1(&marked_jpeg(300, 200), &exif_payload(6, true));
        std::fs::write(&path, &input).unwrap();
        let from_file = process_photo_file(&path, &PhotoOptions::default()).unwrap();
        assert_eq!(from_file, process(&input).unwrap());

        let tiny_cap = PhotoOptions {
            max_input_bytes: 100,
            ..PhotoOptions::default()
        };
        assert!(matches!(
            process_photo_file(&path, &tiny_cap),
            Err(PhotoError::FileTooLarge { max_bytes: 100, .. })
        ));
    }

    #[test]
    fn a_missing_file_is_an_io_error_without_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("居民-张三-snap.jpg");
        let err = process_photo_file(&path, &PhotoOptions::default()).unwrap_err();
        assert!(matches!(err, PhotoError::Io(_)));
        let msg = err.to_string();
        assert!(!msg.contains("张三") && !msg.contains("snap"), "{msg}");
    }
}

//! Deterministic camera-like scenes for the photo benchmark: what building leads photograph.
//!
//! Snap reports (随手拍) show leaks, broken lights, e-bikes charged in stairwells, garbage,
//! illegal construction, a shared garden turned into a vegetable plot. The ten benchmark
//! images cycle through four such subjects, in proportions that follow the catalogue's usual
//! order of frequency — garbage and littering first, then damaged facilities and hazards in
//! stairwells, then illegal construction and occupied public space:
//!
//! - a garbage corner: plastered wall with a drainpipe and a notice, bins, bags and litter on
//!   gritty concrete (3 images);
//! - a stairwell corridor: painted walls covered in small ads, a handrail, cables, a meter
//!   box, a leak stain, doors, a terrazzo floor, an e-bike charging beside cardboard boxes, an
//!   exit sign (3);
//! - a building front: brick wall with windows, a poster and cracked paving (2; the wide shot
//!   of illegal construction, and the most detailed subject);
//! - a vegetable plot in a courtyard: rows of leafy plants on soil, stakes, a railing and the
//!   building behind (2; foliage is the hardest texture for JPEG).
//!
//! The mix decides the median: the two detailed subjects come out near 250 kB at 1600 px and
//! quality 80, the other two at 130–150 kB. The benchmark prints each subject's sizes so that
//! other mixes can be worked out.
//!
//! Every scene is rendered at 4000×3000 and then goes through the same camera model: a 3×3
//! lens blur, vignetting and sensor noise that a phone's denoiser leaves (σ ≈ 2.5 levels
//! outdoors, 3.5 indoors, where light is poorer).

pub const WIDTH: u32 = 4000;
pub const HEIGHT: u32 = 3000;

/// The subject of image `seed`.
pub fn subject(seed: u64) -> &'static str {
    match seed % 10 {
        2 | 5 | 8 => "garbage corner",
        1 | 4 | 7 => "stairwell",
        0 | 6 => "building front",
        _ => "vegetable plot",
    }
}

/// Renders image `seed` as packed RGB8, `WIDTH`×`HEIGHT`.
pub fn render(seed: u64) -> Vec<u8> {
    match subject(seed) {
        "building front" => camera(&BuildingFront::new(seed), seed, 6.0),
        "stairwell" => camera(&Stairwell::new(seed), seed, 8.5),
        "garbage corner" => camera(&GarbageCorner::new(seed), seed, 6.0),
        _ => camera(&VegetablePlot::new(seed), seed, 6.0),
    }
}

trait Scene {
    /// Colour of the scene at a pixel, before lens blur and sensor noise.
    fn shade(&self, x: f32, y: f32) -> [f32; 3];
}

/// The camera: 3×3 lens blur, vignetting and triangular sensor noise of the given half-width
/// (6 levels: σ ≈ 2.5).
fn camera(scene: &dyn Scene, seed: u64, noise_levels: f32) -> Vec<u8> {
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
                let a = ((n >> (ch * 16)) & 0xFF) as f32;
                let b = ((n >> (ch * 16 + 8)) & 0xFF) as f32;
                let noise = (a + b - 255.0) / 255.0 * noise_levels;
                out[i] = (blurred * vignette + noise).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Noise and shape helpers
// ---------------------------------------------------------------------------------------

/// SplitMix64 finaliser: a cheap, portable, deterministic hash.
pub fn mix(mut z: u64) -> u64 {
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

/// Three octaves of value noise, in [0, 1).
fn fbm(x: f32, y: f32, scale: f32, seed: u64) -> f32 {
    (value_noise(x, y, scale, seed) * 4.0
        + value_noise(x, y, scale / 2.0, seed ^ 0x51) * 2.0
        + value_noise(x, y, scale / 4.0, seed ^ 0xA2))
        / 7.0
}

fn scale(c: [f32; 3], k: f32) -> [f32; 3] {
    c.map(|v| v * k)
}

fn lerp(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    let t = t.clamp(0.0, 1.0);
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// Squared normalised distance from an ellipse's centre (1 on its outline).
fn ellipse(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> f32 {
    let (dx, dy) = ((x - cx) / rx, (y - cy) / ry);
    dx * dx + dy * dy
}

/// Text-like strokes on a notice: dark glyph strokes on rows, hashed per glyph cell.
fn text_stroke(lx: f32, ly: f32, line_h: f32, glyph_w: f32, seed: u64) -> bool {
    let line = (ly / line_h) as i64;
    let glyph = (lx / glyph_w) as i64;
    let in_line = ly.rem_euclid(line_h) > line_h * 0.26 && ly.rem_euclid(line_h) < line_h * 0.78;
    let part = (lx.rem_euclid(glyph_w) / (glyph_w / 4.0)) as i64;
    in_line && hash01(glyph * 7 + part, line, seed) > 0.55
}

// ---------------------------------------------------------------------------------------
// A building front: brick wall, windows, a poster, paving with a crack
// ---------------------------------------------------------------------------------------

struct BuildingFront {
    seed: u64,
    sky_end: f32,
    ground_start: f32,
    brick_w: f32,
    brick_h: f32,
    brick_rgb: [f32; 3],
    window_period: f32,
    light_from_right: bool,
}

impl BuildingFront {
    fn new(seed: u64) -> Self {
        let r = |k: u64| hash01(seed as i64, k as i64, 0xC0FFEE);
        let h = HEIGHT as f32;
        BuildingFront {
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
            let margin = lx > 30.0 && lx < 490.0 && ly > 30.0 && ly < 650.0;
            return if margin && text_stroke(lx, ly, 46.0, 26.0, s ^ 9) {
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

impl Scene for BuildingFront {
    fn shade(&self, x: f32, y: f32) -> [f32; 3] {
        let w = WIDTH as f32;
        let s = self.seed;
        let c = if y < self.sky_end {
            sky(x, y, self.sky_end, s)
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
        scale(
            c,
            0.72 + 0.35 * across - 0.12 * value_noise(x, y, 700.0, s ^ 3),
        )
    }
}

/// Blue sky lightening towards the horizon, with soft clouds.
fn sky(x: f32, y: f32, horizon: f32, seed: u64) -> [f32; 3] {
    let t = y / horizon;
    let cloud =
        (value_noise(x, y, 420.0, seed ^ 1) * 0.7 + value_noise(x, y, 90.0, seed ^ 2) * 0.3 - 0.45)
            .clamp(0.0, 1.0)
            * 1.6;
    let sky = [90.0 + 80.0 * t, 140.0 + 60.0 * t, 220.0 + 25.0 * t];
    sky.map(|v| v + (245.0 - v) * cloud.min(1.0))
}

// ---------------------------------------------------------------------------------------
// A stairwell corridor: an e-bike charging indoors, a leak, a dead lamp
// ---------------------------------------------------------------------------------------

struct Stairwell {
    seed: u64,
    /// Vanishing point and half-size of the end wall.
    vx: f32,
    vy: f32,
    bw: f32,
    bh: f32,
    dado_rgb: [f32; 3],
    bike_rgb: [f32; 3],
    door_phase: f32,
}

impl Stairwell {
    fn new(seed: u64) -> Self {
        let r = |k: u64| hash01(seed as i64, k as i64, 0x5EA1);
        let dados = [
            [70.0, 130.0, 95.0],
            [80.0, 120.0, 150.0],
            [140.0, 140.0, 135.0],
        ];
        let bikes = [
            [200.0, 40.0, 45.0],
            [230.0, 230.0, 235.0],
            [40.0, 90.0, 170.0],
        ];
        Stairwell {
            seed,
            vx: 1800.0 + 400.0 * r(1),
            vy: 1250.0 + 200.0 * r(2),
            bw: 300.0 + 80.0 * r(3),
            bh: 560.0 + 80.0 * r(4),
            dado_rgb: dados[(seed / 3 % 3) as usize],
            bike_rgb: bikes[(seed % 3) as usize],
            door_phase: r(5),
        }
    }

    /// The e-bike, its charging cable and the cardboard boxes beside it, in image space.
    fn foreground(&self, x: f32, y: f32) -> Option<[f32; 3]> {
        let s = self.seed;
        // Wheels: tyre, rim and five spokes.
        for (cx, cy) in [(2620.0, 2520.0), (3330.0, 2520.0)] {
            let d = ellipse(x, y, cx, cy, 250.0, 270.0);
            if d < 1.0 {
                let r = d.sqrt();
                if r > 0.78 {
                    let sheen = 25.0 * (1.0 - ((y - cy) / 270.0 + 0.6).abs()).max(0.0);
                    return Some([32.0 + sheen, 32.0 + sheen, 35.0 + sheen]);
                }
                let angle = (y - cy).atan2(x - cx);
                let spoke =
                    ((angle * 5.0 / std::f32::consts::TAU).rem_euclid(1.0) - 0.5).abs() < 0.06;
                return Some(if !(0.16..=0.66).contains(&r) || spoke {
                    [150.0, 152.0, 158.0]
                } else {
                    scale(self.shade_far(x, y), 0.8)
                });
            }
        }
        // Body panel between the wheels, lit from above.
        let body = ellipse(x, y, 2980.0, 2240.0, 480.0, 190.0) < 1.0 && y > 2080.0;
        if body {
            let light = 1.15 - (y - 2080.0) / 400.0;
            let highlight = if (y - 2120.0).abs() < 10.0 { 40.0 } else { 0.0 };
            return Some(self.bike_rgb.map(|v| v * light + highlight));
        }
        if ellipse(x, y, 2900.0, 2040.0, 220.0, 55.0) < 1.0 {
            return Some([28.0, 26.0, 26.0]); // seat
        }
        // Handlebar stem and bar.
        if ((x - 3420.0).abs() < 14.0 && y > 1760.0 && y < 2150.0)
            || ((y - 1760.0).abs() < 12.0 && (x - 3420.0).abs() < 200.0)
        {
            return Some([45.0, 45.0, 48.0]);
        }
        // The charging cable sags from the bike to a socket on the right wall.
        if x > 3150.0 && x < 3780.0 {
            let t = (x - 3150.0) / 630.0;
            let cy = 2180.0 + (1660.0 - 2180.0) * t + 160.0 * (t * std::f32::consts::PI).sin();
            if (y - cy).abs() < 5.0 {
                return Some([22.0, 22.0, 24.0]);
            }
        }
        if (x - 3780.0).abs() < 45.0 && (y - 1660.0).abs() < 60.0 {
            return Some([235.0, 233.0, 225.0]); // socket
        }
        // Two cardboard boxes on the left, printed and taped.
        for (x0, y0, x1, y1) in [
            (420.0, 2080.0, 1080.0, 2600.0),
            (500.0, 1700.0, 1000.0, 2080.0),
        ] {
            if x > x0 && x < x1 && y > y0 && y < y1 {
                let (lx, ly) = (x - x0, y - y0);
                let side = lx > (x1 - x0) * 0.72;
                let tape = (lx - (x1 - x0) * 0.36).abs() < 28.0 && ly < 140.0;
                let print = lx > 60.0
                    && lx < 300.0
                    && ly > 180.0
                    && ly < 320.0
                    && text_stroke(lx - 60.0, ly - 180.0, 45.0, 30.0, s ^ 31);
                let base = [168.0, 128.0, 84.0];
                let c = if tape {
                    [196.0, 170.0, 120.0]
                } else if print {
                    [60.0, 45.0, 35.0]
                } else {
                    base
                };
                let grain = 8.0 * (value_noise(x, y, 7.0, s ^ 32) - 0.5);
                return Some(scale(c, if side { 0.72 } else { 0.95 }).map(|v| v + grain));
            }
        }
        None
    }

    /// Walls, floor, ceiling and the end wall of the corridor.
    fn shade_far(&self, x: f32, y: f32) -> [f32; 3] {
        let s = self.seed;
        let (u, v) = ((x - self.vx) / self.bw, (y - self.vy) / self.bh);
        let white = [214.0, 210.0, 198.0];
        // Depth relative to the end wall (1 there, smaller towards the camera).
        let (c, depth) = if u.abs() <= 1.0 && v.abs() <= 1.0 {
            (self.end_wall(u, v, white), 1.0)
        } else if u.abs() >= v.abs() {
            let z = 1.0 / u.abs();
            (self.side_wall(u.signum(), v / u.abs(), z, white), z)
        } else if v > 0.0 {
            let z = 1.0 / v;
            // Terrazzo: speckles fixed to the floor, so they shrink with distance.
            let (fx, fz) = (u / v * 400.0, 2000.0 / v);
            let speck = value_noise(fx, fz, 3.0, s ^ 21);
            let mut c = [150.0, 145.0, 135.0].map(|c| c - 14.0 + 28.0 * speck);
            if speck > 0.86 {
                c = [70.0, 66.0, 60.0];
            }
            let tile = (fz / 240.0).rem_euclid(1.0) < 0.02 || (fx / 240.0).rem_euclid(1.0) < 0.02;
            if tile {
                c = scale(c, 0.8);
            }
            let grime = 0.85 + 0.15 * (1.0 - (u / v).abs()).clamp(0.0, 1.0);
            (scale(c, grime), z)
        } else {
            let z = 1.0 / -v;
            let (cx, cz) = (u / -v, 1.0 / -v);
            // A ceiling lamp that no longer works: a dark bulb in a yellowed shade.
            let lamp = ellipse(cx, cz, 0.0, 1.9, 0.22, 0.12) < 1.0;
            let c = if lamp {
                [120.0, 115.0, 95.0]
            } else {
                let stain = (fbm(cx * 600.0, cz * 600.0, 300.0, s ^ 22) - 0.5).max(0.0) * 160.0;
                [232.0 - stain, 228.0 - stain * 1.2, 215.0 - stain * 1.6]
            };
            (c, z)
        };
        // Daylight comes from a window behind the camera's subject: the far end is brightest.
        scale(c, 0.42 + 0.58 * depth.sqrt())
    }

    fn end_wall(&self, u: f32, v: f32, white: [f32; 3]) -> [f32; 3] {
        // A steel security door with panels under a green exit sign.
        if u.abs() < 0.55 && v > -0.35 {
            let panel = ((v + 0.35) * 6.0).fract() < 0.08 || (u.abs() - 0.45).abs() < 0.03;
            let c = [120.0, 60.0, 50.0];
            return if panel { scale(c, 0.75) } else { c };
        }
        if u.abs() < 0.4 && v > -0.62 && v < -0.45 {
            let (lx, ly) = ((u + 0.4) * 300.0, (v + 0.62) * 300.0);
            return if text_stroke(lx, ly, 51.0, 24.0, self.seed ^ 23) {
                [240.0, 250.0, 240.0]
            } else {
                [30.0, 160.0, 80.0]
            };
        }
        self.paint(v, white, u * 300.0, v * 300.0)
    }

    fn side_wall(&self, side: f32, h: f32, z: f32, white: [f32; 3]) -> [f32; 3] {
        let s = self.seed;
        // Along-corridor position: 1/z grows towards the camera.
        let along = 1.0 / z;
        let door = ((along * 0.55 + self.door_phase + side * 0.25).fract() < 0.32) && h > -0.45;
        if door {
            let frame =
                ((along * 0.55 + self.door_phase + side * 0.25).fract() - 0.16).abs() > 0.15;
            return if frame {
                [90.0, 80.0, 75.0]
            } else {
                [120.0, 95.0, 70.0]
            };
        }
        let (wx, wy) = (along * 500.0, h * 300.0);
        // A handrail on the left, cables along the top of the right wall, a meter box.
        if side < 0.0 && (h - 0.05).abs() < 0.025 {
            return [60.0, 48.0, 40.0];
        }
        if side > 0.0 && ((h + 0.9).abs() < 0.008 || (h + 0.86).abs() < 0.006) {
            return [30.0, 30.0, 32.0];
        }
        if side > 0.0 && (wy + 150.0).abs() < 70.0 && (wx - 1400.0).abs() < 90.0 {
            let window = (wy + 160.0).abs() < 25.0 && (wx - 1400.0).rem_euclid(60.0) < 40.0;
            return if window {
                [70.0, 75.0, 80.0]
            } else {
                [150.0, 152.0, 150.0]
            };
        }
        // Small ads (小广告) stuck and sprayed on the walls: phone numbers for locksmiths
        // and drain cleaners, the clutter of every stairwell.
        let (cell_x, cell_y) = ((wx / 170.0).floor(), (wy / 90.0).floor());
        let cell = hash01(
            cell_x as i64,
            cell_y as i64 + if side < 0.0 { 1000 } else { 0 },
            s ^ 27,
        );
        if cell > 0.62 && h < 0.2 {
            let (lx, ly) = (wx - cell_x * 170.0, wy - cell_y * 90.0);
            if (20.0..140.0).contains(&lx) && (15.0..70.0).contains(&ly) {
                let paper = if cell > 0.85 {
                    [235.0, 220.0, 90.0]
                } else {
                    [238.0, 238.0, 232.0]
                };
                let ink = if cell > 0.75 {
                    [170.0, 30.0, 30.0]
                } else {
                    [30.0, 30.0, 40.0]
                };
                return if text_stroke(lx - 20.0, ly - 15.0, 18.0, 10.0, s ^ 28) {
                    ink
                } else {
                    paper
                };
            }
        }
        // The leak: a brown tide mark spreading down from the ceiling on the left wall.
        if side < 0.0 && h < -0.2 {
            let stain = fbm(wx, wy, 220.0, s ^ 24) - 0.35 - (h + 1.0) * 0.25;
            if stain > 0.0 {
                let edge = if stain < 0.03 { 0.7 } else { 0.88 };
                return scale([196.0, 170.0, 130.0], edge);
            }
        }
        self.paint(h, white, wx, wy)
    }

    /// Two-tone wall paint: a coloured dado below, off-white above, a little grime.
    fn paint(&self, h: f32, white: [f32; 3], wx: f32, wy: f32) -> [f32; 3] {
        let s = self.seed;
        let texture = 6.0 * (value_noise(wx, wy, 9.0, s ^ 25) - 0.5);
        let scuffs = 18.0 * (fbm(wx, wy, 160.0, s ^ 26) - 0.55).max(0.0);
        let c = if (h - 0.2).abs() < 0.015 {
            scale(self.dado_rgb, 0.6)
        } else if h > 0.2 {
            self.dado_rgb
        } else {
            white
        };
        c.map(|v| v + texture - scuffs)
    }
}

impl Scene for Stairwell {
    fn shade(&self, x: f32, y: f32) -> [f32; 3] {
        self.foreground(x, y)
            .unwrap_or_else(|| self.shade_far(x, y))
    }
}

// ---------------------------------------------------------------------------------------
// A garbage corner: bins overflowing onto the ground
// ---------------------------------------------------------------------------------------

struct GarbageCorner {
    seed: u64,
    ground: f32,
    pipe_x: f32,
    bins: Vec<(f32, f32, [f32; 3])>,
    bags: Vec<(f32, f32, f32, [f32; 3])>,
}

impl GarbageCorner {
    fn new(seed: u64) -> Self {
        let r = |k: u64| hash01(seed as i64, k as i64, 0x6A4B);
        let colours = [
            [45.0, 125.0, 75.0],
            [95.0, 100.0, 105.0],
            [40.0, 80.0, 150.0],
        ];
        let bins = (0..3)
            .map(|i| {
                (
                    700.0 + i as f32 * 900.0 + 120.0 * r(10 + i),
                    1050.0 + 120.0 * r(20 + i),
                    colours[((seed + i) % 3) as usize],
                )
            })
            .collect();
        let bag_colours = [
            [30.0, 30.0, 32.0],
            [40.0, 70.0, 45.0],
            [215.0, 215.0, 210.0],
            [60.0, 90.0, 150.0],
        ];
        let bags = (0..7)
            .map(|i| {
                (
                    400.0 + 3200.0 * r(30 + i),
                    2000.0 + 650.0 * r(40 + i),
                    170.0 + 140.0 * r(50 + i),
                    bag_colours[((seed + i) % 4) as usize],
                )
            })
            .collect();
        GarbageCorner {
            seed,
            ground: 1750.0 + 200.0 * r(1),
            pipe_x: 3300.0 + 400.0 * r(2),
            bins,
            bags,
        }
    }

    fn wall(&self, x: f32, y: f32) -> [f32; 3] {
        let s = self.seed;
        // A drainpipe with cylindrical shading and brackets.
        let px = (x - self.pipe_x) / 55.0;
        if px.abs() < 1.0 {
            let bracket = (y.rem_euclid(700.0) - 350.0).abs() < 18.0;
            let shade = 0.6 + 0.45 * (1.0 - px * px).sqrt() - 0.15 * px;
            return scale(
                if bracket {
                    [120.0, 120.0, 118.0]
                } else {
                    [200.0, 200.0, 195.0]
                },
                shade,
            );
        }
        // A notice pasted on the wall: red title, text below.
        let (nx, ny) = (x - 1500.0, y - 300.0);
        if (0.0..620.0).contains(&nx) && (0.0..460.0).contains(&ny) {
            return if ny < 90.0 {
                [190.0, 35.0, 35.0]
            } else if nx > 30.0 && nx < 590.0 && text_stroke(nx, ny - 90.0, 40.0, 24.0, s ^ 41) {
                [35.0, 35.0, 40.0]
            } else {
                [236.0, 234.0, 226.0]
            };
        }
        // Plaster: fine pits, large damp stains, grime rising from the ground.
        let pits = 7.0 * (value_noise(x, y, 4.0, s ^ 42) - 0.5);
        let damp = 50.0 * (fbm(x, y, 380.0, s ^ 43) - 0.5).max(0.0);
        let grime = 45.0 * ((y - (self.ground - 350.0)) / 350.0).clamp(0.0, 1.0);
        [205.0, 198.0, 184.0].map(|v| v + pits - damp - grime)
    }

    fn ground_at(&self, x: f32, y: f32) -> [f32; 3] {
        let s = self.seed;
        let grit = 26.0 * (value_noise(x, y, 3.0, s ^ 44) - 0.5);
        let patches = 30.0 * (fbm(x, y, 260.0, s ^ 45) - 0.5);
        let wet = if fbm(x, y, 400.0, s ^ 46) > 0.62 {
            0.7
        } else {
            1.0
        };
        // Litter: scraps of paper and cups.
        let (cx, cy) = ((x / 160.0).floor(), (y / 160.0).floor());
        if hash01(cx as i64, cy as i64, s ^ 47) > 0.93 {
            let (lx, ly) = (x.rem_euclid(160.0), y.rem_euclid(160.0));
            if lx > 30.0 && lx < 120.0 && ly > 50.0 && ly < 100.0 {
                let paper = hash01(cx as i64, cy as i64, s ^ 48) > 0.5;
                return if paper {
                    [225.0, 222.0, 210.0]
                } else {
                    [200.0, 50.0, 45.0]
                };
            }
        }
        [118.0, 115.0, 110.0].map(|v| (v + grit + patches) * wet)
    }

    fn bin(&self, x: f32, y: f32) -> Option<[f32; 3]> {
        let bottom = self.ground + 420.0;
        for &(bx, top, colour) in &self.bins {
            let (w, lid_h) = (620.0, 80.0);
            if y < top || y > bottom {
                continue;
            }
            // Slightly narrower at the bottom; the lid overhangs.
            let inset = 40.0 * (y - top) / (bottom - top);
            let lid = y < top + lid_h;
            let (l, r) = if lid {
                (bx - 20.0, bx + w + 20.0)
            } else {
                (bx + inset, bx + w - inset)
            };
            if x < l || x > r {
                continue;
            }
            let across = (x - (l + r) / 2.0) / ((r - l) / 2.0);
            let shade = 0.55 + 0.55 * (1.0 - across * across).max(0.0).sqrt();
            if lid {
                return Some(scale(colour, shade * 1.1));
            }
            // Moulded ribs, a printed label and the wheels.
            let rib = (x - bx).rem_euclid(70.0) < 6.0;
            let (lx, ly) = (x - bx - 180.0, y - top - 200.0);
            if (0.0..260.0).contains(&lx) && (0.0..160.0).contains(&ly) {
                return Some(if text_stroke(lx, ly, 40.0, 22.0, self.seed ^ 49) {
                    [40.0, 40.0, 40.0]
                } else {
                    [240.0, 240.0, 235.0]
                });
            }
            if y > bottom - 60.0
                && ((x - bx - 120.0).abs() < 60.0 || (x - bx - w + 120.0).abs() < 60.0)
            {
                return Some([25.0, 25.0, 25.0]);
            }
            return Some(scale(colour, if rib { shade * 0.8 } else { shade }));
        }
        None
    }

    fn bag(&self, x: f32, y: f32) -> Option<[f32; 3]> {
        let s = self.seed;
        for (i, &(cx, cy, r, colour)) in self.bags.iter().enumerate() {
            // Outside the largest outline the wobble allows: no need for the angle.
            if ellipse(x, y, cx, cy, r * 1.25 * 1.09, r * 1.09) >= 1.0 {
                continue;
            }
            let angle = (y - cy).atan2(x - cx);
            let wobble =
                1.0 + 0.18 * (value_noise(angle * 120.0, i as f32 * 50.0, 40.0, s ^ 50) - 0.5);
            let d = ellipse(x, y, cx, cy, r * 1.25 * wobble, r * wobble);
            if d < 1.0 {
                // Plastic wrinkles and glossy highlights.
                let wrinkle = value_noise(x, y, 38.0, s ^ (51 + i as u64));
                let gloss = if value_noise(x, y, 22.0, s ^ 60) > 0.82 {
                    60.0
                } else {
                    0.0
                };
                let light = 0.6 + 0.6 * wrinkle - 0.3 * d;
                return Some(colour.map(|v| v * light + gloss));
            }
        }
        None
    }
}

impl Scene for GarbageCorner {
    fn shade(&self, x: f32, y: f32) -> [f32; 3] {
        let c = self
            .bag(x, y)
            .or_else(|| self.bin(x, y))
            .unwrap_or_else(|| {
                if y < self.ground {
                    self.wall(x, y)
                } else {
                    self.ground_at(x, y)
                }
            });
        // Overcast light, a little brighter at the top.
        scale(c, 1.0 - 0.15 * y / HEIGHT as f32)
    }
}

// ---------------------------------------------------------------------------------------
// A shared courtyard garden turned into a vegetable plot
// ---------------------------------------------------------------------------------------

struct VegetablePlot {
    seed: u64,
    horizon: f32,
    rail_top: f32,
    rail_bottom: f32,
    row_phase: f32,
}

impl VegetablePlot {
    fn new(seed: u64) -> Self {
        let r = |k: u64| hash01(seed as i64, k as i64, 0x7E6);
        VegetablePlot {
            seed,
            horizon: 650.0 + 250.0 * r(1),
            rail_top: 1150.0 + 150.0 * r(2),
            rail_bottom: 1500.0 + 150.0 * r(3),
            row_phase: r(4),
        }
    }

    /// The building across the courtyard: plain rendered wall, windows, air conditioners.
    fn building(&self, x: f32, y: f32) -> [f32; 3] {
        let s = self.seed;
        let (wx, wy) = (x.rem_euclid(460.0), y.rem_euclid(330.0));
        if wx > 120.0 && wx < 340.0 && wy > 80.0 && wy < 250.0 {
            let band = ((wx + wy * 0.5) / 70.0).sin().max(0.0);
            return [60.0 + 80.0 * band, 75.0 + 80.0 * band, 90.0 + 80.0 * band];
        }
        if wx > 360.0 && wx < 440.0 && wy > 180.0 && wy < 240.0 {
            return [228.0, 228.0, 224.0]; // air conditioner
        }
        let texture = 6.0 * (value_noise(x, y, 8.0, s ^ 61) - 0.5);
        [222.0, 206.0, 180.0].map(|v| v + texture)
    }

    /// Rows of leafy vegetables on soil, in perspective.
    fn plot(&self, x: f32, y: f32) -> [f32; 3] {
        let s = self.seed;
        let h = HEIGHT as f32;
        let depth = (y - self.rail_bottom) / (h - self.rail_bottom); // 0 far, 1 near
        let persp = 0.3 + depth;
        // Ground coordinates: rows run across the frame.
        let gz = 6.0 / (depth + 0.15) + self.row_phase * 10.0;
        let gx = (x - WIDTH as f32 / 2.0) / persp;
        let row = gz.fract();
        // Far rows are only a few pixels apart: the lens and the sensor average them into a
        // green-brown haze (point sampling would alias into noise no camera records).
        let row_px = (depth + 0.15).powi(2) * (h - self.rail_bottom) / 6.0;
        let haze = lerp(
            [95.0, 100.0, 58.0],
            [80.0, 120.0, 50.0],
            value_noise(x, y, 60.0, s ^ 68),
        );
        let near = ((row_px - 6.0) / 14.0).clamp(0.0, 1.0);
        if near == 0.0 {
            return haze;
        }
        lerp(haze, self.plot_detail(x, y, gx, gz, row, persp), near)
    }

    /// Soil, stakes and leaves at pixel (`x`, `y`), ground position (`gx`, `gz`), where a
    /// ground unit across is `persp` px.
    fn plot_detail(&self, x: f32, y: f32, gx: f32, gz: f32, row: f32, persp: f32) -> [f32; 3] {
        let s = self.seed;
        // Fine texture is drawn in pixels, shrinking with distance but never below the 2–3 px
        // a camera's pixel grid can hold (foreshortened ground coordinates would alias).
        let fine = |px: f32| (px * persp).max(2.4);
        let soil_grit = 24.0 * (value_noise(x, y, fine(4.0), s ^ 62) - 0.5);
        let soil = [110.0, 84.0, 60.0].map(|v| v + soil_grit);
        // Bamboo stakes at intervals along some rows.
        let stake = gx.rem_euclid(520.0) < 18.0 && row > 0.15 && row < 0.3;
        if stake {
            return [176.0, 150.0, 96.0];
        }
        if !(0.2..0.85).contains(&row) {
            return soil;
        }
        // Leaves: clumps from fractal noise; veins and light from finer noise.
        let clump = fbm(gx, gz * 260.0, 90.0, s ^ 63);
        if clump < 0.42 {
            return soil;
        }
        let leaf = value_noise(x, y, fine(16.0), s ^ 64);
        let vein = (value_noise(x, y, fine(5.0), s ^ 65) - 0.5).abs() < 0.05;
        let green = [70.0 + 50.0 * leaf, 120.0 + 70.0 * leaf, 45.0 + 30.0 * leaf];
        if vein {
            scale(green, 1.2)
        } else {
            scale(green, 0.7 + 0.6 * (clump - 0.42) / 0.58)
        }
    }
}

impl Scene for VegetablePlot {
    fn shade(&self, x: f32, y: f32) -> [f32; 3] {
        let s = self.seed;
        let c = if y < self.horizon * 0.3 {
            sky(x, y, self.horizon * 0.3, s)
        } else if y < self.rail_top {
            self.building(x, y)
        } else if y < self.rail_bottom {
            // A green railing in front of a strip of lawn.
            let bar = x.rem_euclid(90.0) < 14.0 || (y - self.rail_top).abs() < 16.0;
            if bar {
                [40.0, 105.0, 70.0]
            } else {
                let grass = value_noise(x, y, 5.0, s ^ 66);
                lerp([80.0, 110.0, 50.0], [130.0, 160.0, 80.0], grass)
            }
        } else {
            self.plot(x, y)
        };
        // Sun from the left, soft shadows of trees out of frame.
        scale(
            c,
            0.85 + 0.2 * (1.0 - x / WIDTH as f32) - 0.2 * (fbm(x, y, 600.0, s ^ 67) - 0.5),
        )
    }
}

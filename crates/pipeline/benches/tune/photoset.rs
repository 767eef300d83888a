//! "Hand-held objects": a photo set of our own making, rendered in memory.
//!
//! CIFAR-3's 150 test images cannot tell good settings apart (one image is
//! 0.7 points) and this machine has no camera, so the bench renders a larger
//! set: nine kinds of simple 3-D objects at 128x128, each photographed the way
//! a phone would see it held in a hand. A tiny orthographic ray caster draws
//! analytic shapes (sphere, cuboid, cylinder, cone, torus, flat extruded
//! outlines) with a random pose, size (40-90 % of the frame), position, light
//! and gloss; skin-coloured fingers may cover part of the object; the
//! background is a crop of a real photo, a mosaic of CIFAR images or a
//! gradient with clutter; then blur, sensor noise and JPEG (quality 70-95), so
//! the images take the same decode path as uploads.
//!
//! Classes differ by shape only: every colour, light and background is drawn
//! from the same distributions for every class. Generation is deterministic
//! for a seed (one `StdRng` per image, seeded from the set's seed and the
//! image's index, so the thread count does not matter).

use std::f32::consts::{PI, TAU};
use std::io::Cursor;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::{ImageFormat, Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::Set;

/// The classes, in label order.
pub const CLASSES: [&str; 9] = [
    "ball", "box", "can", "donut", "cone", "pencil", "bottle", "star", "key",
];

/// Side of every rendered photo, in pixels.
const SIDE: u32 = 128;

/// Real pictures the backgrounds are cut from.
pub struct Backgrounds {
    photos: Vec<RgbImage>,
    cifar: Vec<RgbImage>,
}

impl Backgrounds {
    /// The photos in `shared/images` and the CIFAR-3 images of `split`
    /// (so training and test backgrounds share no CIFAR image).
    pub fn load(shared: &Path, split: &str) -> Self {
        // Crops are at least a quarter of a photo's side: smaller photos
        // make the same crops with less resampling.
        let photos = crate::files_in(&shared.join("images"))
            .iter()
            .map(|path| {
                let photo = image::open(path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                    .to_rgb8();
                let (w, h) = photo.dimensions();
                let k = (2 * SIDE) as f32 / w.min(h) as f32;
                if k < 1.0 {
                    let (w, h) = ((w as f32 * k) as u32, (h as f32 * k) as u32);
                    imageops::resize(&photo, w, h, FilterType::Triangle)
                } else {
                    photo
                }
            })
            .collect();
        let cifar = crate::cifar3(shared, split);
        let cifar = cifar
            .files
            .iter()
            .zip(&cifar.names)
            .map(|(file, name)| {
                image::load_from_memory(file)
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .to_rgb8()
            })
            .collect();
        Self { photos, cifar }
    }

    fn draw(&self, rng: &mut StdRng) -> RgbImage {
        let mut bg = match rng.random_range(0..3) {
            0 => self.photo_crop(rng),
            1 => self.cifar_mosaic(rng),
            _ => gradient_with_clutter(rng),
        };
        // A hand-held camera focuses on the object: the background is soft.
        bg = imageops::fast_blur(&bg, rng.random_range(1.0..3.0));
        let gain = rng.random_range(0.6..1.15);
        for p in bg.pixels_mut() {
            *p = to_pixel(scale(unit(*p), gain));
        }
        bg
    }

    fn photo_crop(&self, rng: &mut StdRng) -> RgbImage {
        let photo = &self.photos[rng.random_range(0..self.photos.len())];
        let (w, h) = photo.dimensions();
        let side = ((w.min(h) as f32 * rng.random_range(0.25..1.0)) as u32).max(32);
        let x = rng.random_range(0..=w - side);
        let y = rng.random_range(0..=h - side);
        let mut bg = RgbImage::new(SIDE, SIDE);
        paste_scaled(&mut bg, photo, [x, y, side], [0, 0, SIDE]);
        if rng.random_bool(0.5) {
            imageops::flip_horizontal_in_place(&mut bg);
        }
        bg
    }

    fn cifar_mosaic(&self, rng: &mut StdRng) -> RgbImage {
        let n = rng.random_range(2..=4);
        let tile = SIDE.div_ceil(n);
        let mut bg = RgbImage::new(SIDE, SIDE);
        for row in 0..n {
            for col in 0..n {
                let pick = &self.cifar[rng.random_range(0..self.cifar.len())];
                let from = [0, 0, pick.width().min(pick.height())];
                paste_scaled(&mut bg, pick, from, [col * tile, row * tile, tile]);
            }
        }
        bg
    }
}

/// Renders `per_class` photos of each class: the same seed gives the same bytes.
pub fn generate(backgrounds: &Backgrounds, per_class: usize, seed: u64, split: &str) -> Set {
    let photos: Vec<(Vec<u8>, String, usize)> = (0..CLASSES.len() * per_class)
        .into_par_iter()
        .map(|index| {
            let label = index / per_class;
            let mut rng =
                StdRng::seed_from_u64(seed.wrapping_mul(1 << 32).wrapping_add(index as u64));
            let jpeg = photograph(label, backgrounds, &mut rng);
            let name = format!("{split}/{}/{index:05}.jpg", CLASSES[label]);
            (jpeg, name, label)
        })
        .collect();
    let mut set = Set::new(&CLASSES);
    for (jpeg, name, label) in photos {
        set.files.push(jpeg);
        set.names.push(name);
        set.labels.push(label);
    }
    set
}

/// Writes the first `per_class` photos of each class as PNG (decoded from
/// their JPEG, so they show what the studio sees) into `dir`.
pub fn save_samples(set: &Set, per_class: usize, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for (label, class) in set.classes.iter().enumerate() {
        let of_class = set.labels.iter().enumerate().filter(|(_, l)| **l == label);
        for (n, (i, _)) in of_class.take(per_class).enumerate() {
            let path = dir.join(format!("{class}-{n}.png"));
            image::load_from_memory(&set.files[i])
                .expect("own JPEG")
                .save_with_format(&path, ImageFormat::Png)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

/// One photo of an object of class `label`, as JPEG bytes.
fn photograph(label: usize, backgrounds: &Backgrounds, rng: &mut StdRng) -> Vec<u8> {
    let background = backgrounds.draw(rng);
    let scene = Scene::random(label, rng);
    let mut photo = scene.render(&background);
    let blur = rng.random_range(0.3..0.8);
    photo = soften(&photo, blur);
    let sigma = rng.random_range(2.0..6.0);
    for p in photo.pixels_mut() {
        let noise = [gaussian(rng), gaussian(rng), gaussian(rng)];
        *p = to_pixel(add(unit(*p), scale(noise, sigma / 255.0)));
    }
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(Cursor::new(&mut jpeg), rng.random_range(70..=95))
        .encode_image(&photo)
        .expect("JPEG of an in-memory image");
    jpeg
}

/// About normally distributed (mean 0, deviation 1): the sum of three uniforms.
fn gaussian(rng: &mut StdRng) -> f32 {
    (rng.random::<f32>() + rng.random::<f32>() + rng.random::<f32>() - 1.5) * 2.0
}

/// A colour in 0..1 with its hue, saturation and value drawn uniformly.
fn random_colour(rng: &mut StdRng, saturation: (f32, f32), value: (f32, f32)) -> V3 {
    hsv(
        rng.random::<f32>(),
        rng.random_range(saturation.0..saturation.1),
        rng.random_range(value.0..value.1),
    )
}

fn hsv(h: f32, s: f32, v: f32) -> V3 {
    let f = |n: f32| {
        let k = (n + h * 6.0) % 6.0;
        v - v * s * k.min(4.0 - k).clamp(0.0, 1.0)
    };
    [f(5.0), f(3.0), f(1.0)]
}

// The pixel helpers spell out their three channels: the bench is built
// unoptimised, where `array::map` costs more than the rendering.

fn to_pixel(c: V3) -> Rgb<u8> {
    let channel = |v: f32| (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8;
    Rgb([channel(c[0]), channel(c[1]), channel(c[2])])
}

fn unit(p: Rgb<u8>) -> V3 {
    [
        p[0] as f32 / 255.0,
        p[1] as f32 / 255.0,
        p[2] as f32 / 255.0,
    ]
}

/// Draws the square `from` ([x, y, side]) of `src` scaled into the square
/// `to` of `dst` (clipped to it), sampling bilinearly.
fn paste_scaled(dst: &mut RgbImage, src: &RgbImage, from: [u32; 3], to: [u32; 3]) {
    let step = from[2] as f32 / to[2] as f32;
    let last = [from[0] + from[2] - 1, from[1] + from[2] - 1];
    let coordinate = |d: u32, axis: usize| {
        let s = (from[axis] as f32 + (d as f32 + 0.5) * step - 0.5).max(from[axis] as f32);
        let i = (s as u32).min(last[axis]);
        (i, (i + 1).min(last[axis]), s - i as f32)
    };
    for dy in 0..to[2].min(dst.height().saturating_sub(to[1])) {
        let (y0, y1, fy) = coordinate(dy, 1);
        for dx in 0..to[2].min(dst.width().saturating_sub(to[0])) {
            let (x0, x1, fx) = coordinate(dx, 0);
            let top = lerp(
                unit(*src.get_pixel(x0, y0)),
                unit(*src.get_pixel(x1, y0)),
                fx,
            );
            let bottom = lerp(
                unit(*src.get_pixel(x0, y1)),
                unit(*src.get_pixel(x1, y1)),
                fx,
            );
            dst.put_pixel(to[0] + dx, to[1] + dy, to_pixel(lerp(top, bottom, fy)));
        }
    }
}

/// A slight Gaussian blur (deviation `sigma` under a pixel) as a 3-tap
/// kernel, across then down.
fn soften(image: &RgbImage, sigma: f32) -> RgbImage {
    let side = (-1.0 / (2.0 * sigma * sigma)).exp();
    let (side, centre) = (side / (1.0 + 2.0 * side), 1.0 / (1.0 + 2.0 * side));
    let pass = |image: &RgbImage, across: bool| {
        let (w, h) = image.dimensions();
        RgbImage::from_fn(w, h, |x, y| {
            let at = |d: i64| {
                let (x, y) = if across {
                    ((x as i64 + d).clamp(0, w as i64 - 1) as u32, y)
                } else {
                    (x, (y as i64 + d).clamp(0, h as i64 - 1) as u32)
                };
                unit(*image.get_pixel(x, y))
            };
            let sum = add(scale(add(at(-1), at(1)), side), scale(at(0), centre));
            to_pixel(sum)
        })
    };
    pass(&pass(image, true), false)
}

fn gradient_with_clutter(rng: &mut StdRng) -> RgbImage {
    let from = random_colour(rng, (0.0, 0.7), (0.2, 1.0));
    let to = random_colour(rng, (0.0, 0.7), (0.2, 1.0));
    let angle = rng.random_range(0.0..TAU);
    let (dx, dy) = (angle.cos(), angle.sin());
    let mut bg = RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let t = ((x as f32 - 64.0) * dx + (y as f32 - 64.0) * dy) / 181.0 + 0.5;
        to_pixel(lerp(from, to, t))
    });
    // Flat rectangles, ellipses and bars: clutter with edges and corners.
    for _ in 0..rng.random_range(2..7) {
        let colour = random_colour(rng, (0.0, 1.0), (0.1, 1.0));
        let (cx, cy) = (rng.random_range(0.0..128.0), rng.random_range(0.0..128.0));
        let (a, b): (f32, f32) = (rng.random_range(4.0..40.0), rng.random_range(2.0..30.0));
        let turn = rng.random_range(0.0..PI);
        let (cos, sin) = (turn.cos(), turn.sin());
        let round = rng.random_bool(0.5);
        let opacity = rng.random_range(0.4..1.0);
        let reach = a.hypot(b);
        let span = |c: f32| (c - reach).max(0.0) as u32..((c + reach) as u32).min(SIDE);
        for y in span(cy) {
            for x in span(cx) {
                let (px, py) = (x as f32 - cx, y as f32 - cy);
                let (u, v) = ((px * cos + py * sin) / a, (py * cos - px * sin) / b);
                let inside = if round {
                    u * u + v * v <= 1.0
                } else {
                    u.abs() <= 1.0 && v.abs() <= 1.0
                };
                if inside {
                    let p = bg.get_pixel_mut(x, y);
                    *p = to_pixel(lerp(unit(*p), colour, opacity));
                }
            }
        }
    }
    bg
}

// ---- 3-D vectors -------------------------------------------------------

type V3 = [f32; 3];

fn dot(a: V3, b: V3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn scale(a: V3, k: f32) -> V3 {
    [a[0] * k, a[1] * k, a[2] * k]
}

fn normalize(a: V3) -> V3 {
    scale(a, 1.0 / dot(a, a).sqrt().max(1e-12))
}

fn lerp(a: V3, b: V3, t: f32) -> V3 {
    add(a, scale(sub(b, a), t.clamp(0.0, 1.0)))
}

/// A rotation, as the rows of its matrix.
struct Rotation([V3; 3]);

impl Rotation {
    /// Turn by `yaw` about y, then tip by `pitch` about x, then turn in the
    /// image plane by `roll` about z (the camera looks along -z).
    fn new(yaw: f32, pitch: f32, roll: f32) -> Self {
        let (sy, cy) = yaw.sin_cos();
        let (sp, cp) = pitch.sin_cos();
        let (sr, cr) = roll.sin_cos();
        let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
        let rx = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
        let rz = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
        Self(mul(&rz, &mul(&rx, &ry)))
    }

    /// Object space to camera space.
    fn apply(&self, v: V3) -> V3 {
        let m = &self.0;
        [dot(m[0], v), dot(m[1], v), dot(m[2], v)]
    }

    /// Camera space to object space.
    fn invert(&self, v: V3) -> V3 {
        let m = &self.0;
        let column = |c: usize| m[0][c] * v[0] + m[1][c] * v[1] + m[2][c] * v[2];
        [column(0), column(1), column(2)]
    }
}

fn mul(a: &[V3; 3], b: &[V3; 3]) -> [V3; 3] {
    a.map(|row| [0, 1, 2].map(|c| row[0] * b[0][c] + row[1] * b[1][c] + row[2] * b[2][c]))
}

// ---- Shapes -------------------------------------------------------------

/// Where a part's surface is coloured from (its index in `Scene::colours`).
#[derive(Clone, Copy)]
enum Material {
    Primary,
    Secondary,
    Metal,
    Graphite,
}

/// Analytic solids in object space; every object fits in the unit sphere.
enum Solid {
    Sphere {
        centre: V3,
        radius: f32,
    },
    /// Centred on the origin.
    Cuboid {
        half: V3,
    },
    /// Axis along y; `half` is half its height.
    Cylinder {
        centre: V3,
        radius: f32,
        half: f32,
    },
    /// Base centred on `base`, apex `height` above it along y.
    Cone {
        base: V3,
        radius: f32,
        height: f32,
    },
    /// Centred on the origin, around the y axis.
    Torus {
        ring: f32,
        tube: f32,
    },
    /// A flat outline in the xy plane, extruded `depth` to each side.
    Slab {
        outline: Vec<Outline>,
        depth: f32,
    },
}

/// 2-D shapes whose union is a slab's outline.
enum Outline {
    Polygon(Vec<[f32; 2]>),
    Ring {
        centre: [f32; 2],
        radius: f32,
        width: f32,
    },
    Rect {
        centre: [f32; 2],
        half: [f32; 2],
    },
}

impl Outline {
    /// Signed distance: negative inside.
    fn distance(&self, p: [f32; 2]) -> f32 {
        match self {
            Outline::Polygon(points) => {
                let mut nearest = f32::MAX;
                let mut inside = false;
                for (i, &a) in points.iter().enumerate() {
                    let b = points[(i + 1) % points.len()];
                    let (ex, ey) = (b[0] - a[0], b[1] - a[1]);
                    let (wx, wy) = (p[0] - a[0], p[1] - a[1]);
                    let t = ((wx * ex + wy * ey) / (ex * ex + ey * ey)).clamp(0.0, 1.0);
                    let (dx, dy) = (wx - ex * t, wy - ey * t);
                    nearest = nearest.min(dx * dx + dy * dy);
                    if (a[1] > p[1]) != (b[1] > p[1])
                        && p[0] < a[0] + (p[1] - a[1]) / (b[1] - a[1]) * ex
                    {
                        inside = !inside;
                    }
                }
                if inside {
                    -nearest.sqrt()
                } else {
                    nearest.sqrt()
                }
            }
            Outline::Ring {
                centre,
                radius,
                width,
            } => ((p[0] - centre[0]).hypot(p[1] - centre[1]) - radius).abs() - width,
            Outline::Rect { centre, half } => {
                let qx = (p[0] - centre[0]).abs() - half[0];
                let qy = (p[1] - centre[1]).abs() - half[1];
                qx.max(0.0).hypot(qy.max(0.0)) + qx.max(qy).min(0.0)
            }
        }
    }
}

fn outline_distance(outline: &[Outline], p: [f32; 2]) -> f32 {
    outline
        .iter()
        .map(|o| o.distance(p))
        .fold(f32::MAX, f32::min)
}

/// Where a ray meets a surface: distance along the ray, object-space
/// normal, and whether it is a cap (the flat end of a cylinder or cone).
struct Hit {
    t: f32,
    normal: V3,
    cap: bool,
}

fn nearer(best: &mut Option<Hit>, hit: Hit) {
    if hit.t > 0.0 && best.as_ref().is_none_or(|b| hit.t < b.t) {
        *best = Some(hit);
    }
}

impl Solid {
    /// The first hit of the ray `origin + t * dir` (`dir` of unit length).
    fn cast(&self, origin: V3, dir: V3) -> Option<Hit> {
        let mut best = None;
        match *self {
            Solid::Sphere { centre, radius } => {
                let o = sub(origin, centre);
                let b = dot(o, dir);
                let disc = b * b - dot(o, o) + radius * radius;
                if disc >= 0.0 {
                    let t = -b - disc.sqrt();
                    let normal = scale(sub(add(origin, scale(dir, t)), centre), 1.0 / radius);
                    nearer(
                        &mut best,
                        Hit {
                            t,
                            normal,
                            cap: false,
                        },
                    );
                }
            }
            Solid::Cuboid { half } => {
                let (mut near, mut far, mut axis) = (f32::MIN, f32::MAX, 0);
                for i in 0..3 {
                    if dir[i].abs() < 1e-6 {
                        if origin[i].abs() > half[i] {
                            return None;
                        }
                        continue;
                    }
                    let a = (-half[i] - origin[i]) / dir[i];
                    let b = (half[i] - origin[i]) / dir[i];
                    if a.min(b) > near {
                        near = a.min(b);
                        axis = i;
                    }
                    far = far.min(a.max(b));
                }
                if near <= far {
                    let mut normal = [0.0; 3];
                    normal[axis] = -dir[axis].signum();
                    nearer(
                        &mut best,
                        Hit {
                            t: near,
                            normal,
                            cap: false,
                        },
                    );
                }
            }
            Solid::Cylinder {
                centre,
                radius,
                half,
            } => {
                let p = sub(origin, centre);
                let a = dir[0] * dir[0] + dir[2] * dir[2];
                let b = p[0] * dir[0] + p[2] * dir[2];
                let c = p[0] * p[0] + p[2] * p[2] - radius * radius;
                let disc = b * b - a * c;
                if a > 1e-8 && disc >= 0.0 {
                    let t = (-b - disc.sqrt()) / a;
                    let q = add(p, scale(dir, t));
                    if q[1].abs() <= half {
                        let normal = [q[0] / radius, 0.0, q[2] / radius];
                        nearer(
                            &mut best,
                            Hit {
                                t,
                                normal,
                                cap: false,
                            },
                        );
                    }
                }
                for end in [-half, half] {
                    if let Some(t) = disc_hit(p, dir, end, radius) {
                        let normal = [0.0, end.signum(), 0.0];
                        nearer(
                            &mut best,
                            Hit {
                                t,
                                normal,
                                cap: true,
                            },
                        );
                    }
                }
            }
            Solid::Cone {
                base,
                radius,
                height,
            } => {
                // x² + z² = k² (height - y)², 0 <= y <= height.
                let p = sub(origin, base);
                let k2 = (radius / height).powi(2);
                let (h, dy) = (height - p[1], -dir[1]);
                let a = dir[0] * dir[0] + dir[2] * dir[2] - k2 * dy * dy;
                let b = p[0] * dir[0] + p[2] * dir[2] - k2 * h * dy;
                let c = p[0] * p[0] + p[2] * p[2] - k2 * h * h;
                let disc = b * b - a * c;
                if a.abs() > 1e-8 && disc >= 0.0 {
                    for t in [(-b - disc.sqrt()) / a, (-b + disc.sqrt()) / a] {
                        let q = add(p, scale(dir, t));
                        if (0.0..=height).contains(&q[1]) {
                            let normal = normalize([q[0], k2 * (height - q[1]), q[2]]);
                            nearer(
                                &mut best,
                                Hit {
                                    t,
                                    normal,
                                    cap: false,
                                },
                            );
                        }
                    }
                }
                if let Some(t) = disc_hit(p, dir, 0.0, radius) {
                    nearer(
                        &mut best,
                        Hit {
                            t,
                            normal: [0.0, -1.0, 0.0],
                            cap: true,
                        },
                    );
                }
            }
            Solid::Torus { ring, tube } => {
                // Sphere tracing from where the ray enters the bounding sphere.
                let b = dot(origin, dir);
                let disc = b * b - dot(origin, origin) + (ring + tube).powi(2);
                if disc < 0.0 {
                    return None;
                }
                let (mut t, end) = (-b - disc.sqrt(), -b + disc.sqrt());
                // Rays grazing the tube take small steps; a miss after 64 is
                // at most a pixel's sliver of silhouette.
                for _ in 0..64 {
                    if t >= end {
                        break;
                    }
                    let q = add(origin, scale(dir, t));
                    let across = q[0].hypot(q[2]);
                    let d = (across - ring).hypot(q[1]) - tube;
                    if d < 1e-3 {
                        let centre = scale([q[0], 0.0, q[2]], ring / across.max(1e-6));
                        let normal = normalize(sub(q, centre));
                        nearer(
                            &mut best,
                            Hit {
                                t,
                                normal,
                                cap: false,
                            },
                        );
                        break;
                    }
                    t += d;
                }
            }
            Solid::Slab { ref outline, depth } => {
                if dir[2].abs() < 1e-6 {
                    return None;
                }
                let a = (depth - origin[2]) / dir[2];
                let b = (-depth - origin[2]) / dir[2];
                let (near, far) = (a.min(b), a.max(b));
                // Step through the slab: the first step inside is the face,
                // later ones the side wall.
                const STEPS: usize = 6;
                for step in 0..STEPS {
                    let t = near + (far - near) * step as f32 / (STEPS - 1) as f32;
                    let q = add(origin, scale(dir, t));
                    let d = outline_distance(outline, [q[0], q[1]]);
                    if d > 0.0 {
                        continue;
                    }
                    let e = 1e-3;
                    let gx = outline_distance(outline, [q[0] + e, q[1]]) - d;
                    let gy = outline_distance(outline, [q[0], q[1] + e]) - d;
                    let g = normalize([gx, gy, 0.0]);
                    let normal = if step == 0 {
                        // The face, bevelled within `BEVEL` of the edge.
                        const BEVEL: f32 = 0.06;
                        let edge = (1.0 + d / BEVEL).max(0.0);
                        normalize(add([0.0, 0.0, q[2].signum()], scale(g, edge)))
                    } else {
                        g
                    };
                    nearer(
                        &mut best,
                        Hit {
                            t,
                            normal,
                            cap: false,
                        },
                    );
                    break;
                }
            }
        }
        best
    }
}

/// Where a ray from `p` crosses the disc of `radius` at height `y`.
fn disc_hit(p: V3, dir: V3, y: f32, radius: f32) -> Option<f32> {
    if dir[1].abs() < 1e-6 {
        return None;
    }
    let t = (y - p[1]) / dir[1];
    let q = add(p, scale(dir, t));
    (q[0] * q[0] + q[2] * q[2] <= radius * radius).then_some(t)
}

/// One solid of an object and what its body and caps are made of.
struct Part {
    solid: Solid,
    body: Material,
    cap: Material,
}

fn part(solid: Solid, body: Material) -> Part {
    Part {
        solid,
        body,
        cap: body,
    }
}

/// How far an object may turn away from facing the camera (radians): any
/// yaw within `yaw` of facing it, then a pitch of size in `pitch`, either way.
struct Turn {
    yaw: f32,
    pitch: (f32, f32),
}

const ANY: f32 = PI;

/// The solids of one object of class `label`, with random proportions, and
/// the turns that show it well.
fn object(label: usize, rng: &mut StdRng) -> (Vec<Part>, Turn) {
    use Material::*;
    match CLASSES[label] {
        "ball" => {
            let ball = Solid::Sphere {
                centre: [0.0; 3],
                radius: 1.0,
            };
            (
                vec![part(ball, Primary)],
                Turn {
                    yaw: 0.0,
                    pitch: (0.0, 0.0),
                },
            )
        }
        "box" => {
            let half = normalize([0, 1, 2].map(|_| rng.random_range(0.35..0.7)));
            (
                vec![part(Solid::Cuboid { half }, Primary)],
                Turn {
                    yaw: ANY,
                    pitch: (0.3, 0.9),
                },
            )
        }
        "can" => {
            let radius = rng.random_range(0.4..0.6);
            let can = Solid::Cylinder {
                centre: [0.0; 3],
                radius,
                half: (1.0 - radius * radius).sqrt(),
            };
            let lid = if rng.random_bool(0.7) { Metal } else { Primary };
            (
                vec![Part {
                    solid: can,
                    body: Primary,
                    cap: lid,
                }],
                Turn {
                    yaw: ANY,
                    pitch: (0.2, 0.9),
                },
            )
        }
        "donut" => {
            let tube = rng.random_range(0.2..0.35);
            let torus = Solid::Torus {
                ring: 1.0 - tube,
                tube,
            };
            (
                vec![part(torus, Primary)],
                Turn {
                    yaw: ANY,
                    pitch: (0.5, PI / 2.0),
                },
            )
        }
        "cone" => {
            let (radius, height): (f32, f32) =
                (rng.random_range(0.45..0.75), rng.random_range(1.2..1.7));
            let k = 1.0 / (height * height / 4.0 + radius * radius).sqrt();
            let cone = Solid::Cone {
                base: [0.0, -height * k / 2.0, 0.0],
                radius: radius * k,
                height: height * k,
            };
            (
                vec![part(cone, Primary)],
                Turn {
                    yaw: ANY,
                    pitch: (0.0, 0.8),
                },
            )
        }
        "pencil" => {
            let r = rng.random_range(0.1..0.14);
            let cylinder = |from: f32, to: f32| Solid::Cylinder {
                centre: [0.0, (from + to) / 2.0, 0.0],
                radius: r,
                half: (to - from) / 2.0,
            };
            let tip = Solid::Cone {
                base: [0.0, 0.6, 0.0],
                radius: r,
                height: 0.38,
            };
            // The lead: the tip's last quarter, a hair wider so it shows.
            let lead = Solid::Cone {
                base: [0.0, 0.6 + 0.38 * 0.72, 0.0],
                radius: r * 0.3,
                height: 0.38 * 0.28,
            };
            let parts = vec![
                part(cylinder(-0.97, -0.82), Secondary),
                part(cylinder(-0.82, -0.74), Metal),
                part(cylinder(-0.74, 0.6), Primary),
                part(tip, Secondary),
                part(lead, Graphite),
            ];
            (
                parts,
                Turn {
                    yaw: ANY,
                    pitch: (0.0, 0.5),
                },
            )
        }
        "bottle" => {
            let r = rng.random_range(0.28..0.4);
            let neck = r * rng.random_range(0.3..0.45);
            let cylinder = |radius: f32, from: f32, to: f32| Solid::Cylinder {
                centre: [0.0, (from + to) / 2.0, 0.0],
                radius,
                half: (to - from) / 2.0,
            };
            let shoulder = Solid::Cone {
                base: [0.0, 0.1, 0.0],
                radius: r,
                height: 0.45 * r / (r - neck * 0.9),
            };
            let parts = vec![
                part(cylinder(r, -0.95, 0.1), Primary),
                part(shoulder, Primary),
                part(cylinder(neck, 0.3, 0.82), Primary),
                part(cylinder(neck * 1.2, 0.8, 0.96), Secondary),
            ];
            (
                parts,
                Turn {
                    yaw: ANY,
                    pitch: (0.0, 0.7),
                },
            )
        }
        "star" => {
            let inner = rng.random_range(0.35..0.55);
            let points = (0..10)
                .map(|i| {
                    let r = if i % 2 == 0 { 1.0 } else { inner };
                    let a = PI / 2.0 + i as f32 * PI / 5.0;
                    [r * a.cos(), r * a.sin()]
                })
                .collect();
            let star = Solid::Slab {
                outline: vec![Outline::Polygon(points)],
                depth: rng.random_range(0.06..0.14),
            };
            (
                vec![part(star, Primary)],
                Turn {
                    yaw: 0.6,
                    pitch: (0.0, 0.6),
                },
            )
        }
        "key" => {
            let head = rng.random_range(0.25..0.35);
            let mut outline = vec![
                Outline::Ring {
                    centre: [0.0, 0.95 - head],
                    radius: head - 0.06,
                    width: rng.random_range(0.08..0.12),
                },
                Outline::Rect {
                    centre: [0.0, -0.2],
                    half: [0.1, 0.75],
                },
            ];
            for i in 0..rng.random_range(2..4) {
                outline.push(Outline::Rect {
                    centre: [0.12, -0.85 + i as f32 * 0.16],
                    half: [rng.random_range(0.05..0.11), 0.05],
                });
            }
            let key = Solid::Slab {
                outline,
                depth: rng.random_range(0.04..0.08),
            };
            (
                vec![part(key, Primary)],
                Turn {
                    yaw: 0.6,
                    pitch: (0.0, 0.6),
                },
            )
        }
        other => unreachable!("no object for class {other}"),
    }
}

// ---- Scenes -------------------------------------------------------------

/// A finger: a shaded capsule from off the frame to its tip (pixels).
struct Finger {
    from: [f32; 2],
    tip: [f32; 2],
    width: f32,
}

/// Everything random about one photo except its background and sensor.
struct Scene {
    parts: Vec<Part>,
    pose: Rotation,
    /// The camera's viewing direction in object space.
    view: V3,
    /// Object centre and radius of its bounding sphere, in pixels.
    centre: [f32; 2],
    radius: f32,
    colours: [V3; 4],
    light: V3,
    ambient: f32,
    gloss: f32,
    shininess: f32,
    shadow: f32,
    skin: V3,
    fingers: Vec<Finger>,
}

impl Scene {
    fn random(label: usize, rng: &mut StdRng) -> Self {
        let (parts, turn) = object(label, rng);
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        let pose = Rotation::new(
            turn.yaw * rng.random_range(-1.0..=1.0),
            sign * (turn.pitch.0 + (turn.pitch.1 - turn.pitch.0) * rng.random::<f32>()),
            // Held roughly upright.
            rng.random_range(-0.9..0.9),
        );
        let radius = rng.random_range(0.4..0.9) * SIDE as f32 / 2.0;
        let slack = (SIDE as f32 / 2.0 - radius * 0.8).max(1.0);
        let centre = [0, 1].map(|_| SIDE as f32 / 2.0 + rng.random_range(-slack..slack));
        let colours = [
            random_colour(rng, (0.2, 1.0), (0.4, 1.0)),
            random_colour(rng, (0.2, 1.0), (0.4, 1.0)),
            [rng.random_range(0.6..0.85); 3],
            [0.12; 3],
        ];
        let light = normalize([
            rng.random_range(-1.0..1.0),
            rng.random_range(-1.0..1.0),
            rng.random_range(0.4..1.2),
        ]);
        let skin = hsv(
            rng.random_range(0.02..0.09),
            rng.random_range(0.25..0.6),
            rng.random_range(0.35..0.95),
        );
        let mut fingers = Vec::new();
        if rng.random_bool(0.4) {
            // Fingers come in side by side from one direction and stop
            // somewhere over the object.
            let angle = rng.random_range(0.0..TAU);
            let (ux, uy) = (angle.cos(), angle.sin());
            let width = (radius * rng.random_range(0.1..0.18)).max(4.0);
            let reach = radius * rng.random_range(-0.95..-0.4);
            let shift = rng.random_range(-0.6..0.6) * radius;
            for i in 0..rng.random_range(1..=3) {
                let side = shift + i as f32 * width * 1.9;
                let depth = reach + rng.random_range(-0.5..0.5) * width;
                let base = [centre[0] - uy * side, centre[1] + ux * side];
                fingers.push(Finger {
                    from: [base[0] - ux * 300.0, base[1] - uy * 300.0],
                    tip: [base[0] + ux * depth, base[1] + uy * depth],
                    width,
                });
            }
        }
        Self {
            parts,
            view: pose.invert([0.0, 0.0, -1.0]),
            pose,
            centre,
            radius,
            colours,
            light,
            ambient: rng.random_range(0.25..0.5),
            gloss: rng.random_range(0.05..0.6),
            shininess: rng.random_range(8.0..60.0),
            shadow: rng.random_range(0.55..0.85),
            skin,
            fingers,
        }
    }

    fn render(&self, background: &RgbImage) -> RgbImage {
        let object: Vec<Option<V3>> = (0..SIDE * SIDE)
            .map(|i| self.object_at((i % SIDE) as f32 + 0.5, (i / SIDE) as f32 + 0.5))
            .collect();
        // The shadow falls away from the light.
        let offset = [self.light[0], -self.light[1]].map(|v| v * self.radius * 0.15);
        let covered = |x: f32, y: f32| {
            let (x, y) = (x.round(), y.round());
            (0.0..SIDE as f32).contains(&x)
                && (0.0..SIDE as f32).contains(&y)
                && object[(y as u32 * SIDE + x as u32) as usize].is_some()
        };
        RgbImage::from_fn(SIDE, SIDE, |x, y| {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            if let Some(c) = self.finger_at(fx, fy) {
                return to_pixel(c);
            }
            if let Some(c) = object[(y * SIDE + x) as usize] {
                return to_pixel(c);
            }
            let under = unit(*background.get_pixel(x, y));
            if covered(x as f32 + offset[0], y as f32 + offset[1]) {
                to_pixel(scale(under, self.shadow))
            } else {
                to_pixel(under)
            }
        })
    }

    /// The object's colour at pixel (x, y), if it covers it.
    fn object_at(&self, x: f32, y: f32) -> Option<V3> {
        // Camera space: x right, y up, one unit the object's radius.
        let (u, v) = (
            (x - self.centre[0]) / self.radius,
            (self.centre[1] - y) / self.radius,
        );
        if u * u + v * v > 1.1 {
            return None;
        }
        let origin = self.pose.invert([u, v, 4.0]);
        let mut best: Option<(Hit, Material)> = None;
        for part in &self.parts {
            if let Some(hit) = part.solid.cast(origin, self.view)
                && best.as_ref().is_none_or(|(b, _)| hit.t < b.t)
            {
                let material = if hit.cap { part.cap } else { part.body };
                best = Some((hit, material));
            }
        }
        let (hit, material) = best?;
        let normal = self.pose.apply(hit.normal);
        Some(self.shade(self.colours[material as usize], normal))
    }

    /// Lambert plus a Blinn-Phong highlight.
    fn shade(&self, albedo: V3, normal: V3) -> V3 {
        let diffuse = dot(normal, self.light).max(0.0);
        let half = normalize(add(self.light, [0.0, 0.0, 1.0]));
        let highlight = self.gloss * dot(normal, half).max(0.0).powf(self.shininess);
        let light = self.ambient + (1.0 - self.ambient) * diffuse;
        add(scale(albedo, light), [highlight; 3])
    }

    fn finger_at(&self, x: f32, y: f32) -> Option<V3> {
        self.fingers.iter().find_map(|f| {
            let (ex, ey) = (f.tip[0] - f.from[0], f.tip[1] - f.from[1]);
            let (wx, wy) = (x - f.from[0], y - f.from[1]);
            let t = ((wx * ex + wy * ey) / (ex * ex + ey * ey)).clamp(0.0, 1.0);
            // From the finger's axis to the pixel, in widths (y up).
            let (dx, dy) = ((wx - ex * t) / f.width, -(wy - ey * t) / f.width);
            let d2 = dx * dx + dy * dy;
            (d2 <= 1.0).then(|| self.shade(self.skin, [dx, dy, (1.0 - d2).sqrt()]))
        })
    }
}

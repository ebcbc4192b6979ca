//! On-the-fly image augmentation (Géron ch. 11, "data augmentation"): random shifts, horizontal
//! flips, small rotations, random crops with padding and additive noise, applied to each
//! training batch with a seeded stream, so that a run is reproducible.
//!
//! Samples are images of shape (H, W) or (H, W, C), channels last, already scaled. Every
//! transform is an inverse mapping: output pixel (i, j) reads the input at the rotated, shifted
//! and flipped position with bilinear interpolation; positions outside the image read the
//! background: [`Augmentation::background`], the scaled value of a black (0) pixel, so that a
//! shifted standardized image is padded with black, not with the mean.

use std::path::Path;

use rand::Rng as _;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::tensor::Tensor;
use crate::{io, Error, Result, Rng};

/// `[augmentation]` in a spec. Every transform is off by default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augmentation {
    /// Largest shift in pixels along each axis (uniform integer in [-shift, shift]).
    #[serde(default)]
    pub shift: usize,
    /// Mirror left-right with probability ½.
    #[serde(default)]
    pub horizontal_flip: bool,
    /// Largest rotation in degrees (uniform in [-rotation, rotation]).
    #[serde(default)]
    pub rotation: f32,
    /// Pad by this many pixels on each side, then crop back to the original size at a random
    /// offset (Krizhevsky et al. 2012).
    #[serde(default)]
    pub crop_padding: usize,
    /// Standard deviation of additive Gaussian noise.
    #[serde(default)]
    pub noise_stddev: f32,
    /// What a pixel shifted into the frame holds, one value per feature of a sample (empty: 0
    /// everywhere). Not in the spec: set with [`Augmentation::with_background`].
    #[serde(skip)]
    pub background: Vec<f32>,
}

impl Augmentation {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if !(self.rotation.is_finite() && (0.0..=180.0).contains(&self.rotation)) {
            return Err(Error::Config(format!(
                "[augmentation] rotation must be in [0, 180] degrees, got {}",
                self.rotation
            )));
        }
        if !(self.noise_stddev.is_finite() && self.noise_stddev >= 0.0) {
            return Err(Error::Config(format!(
                "[augmentation] noise_stddev must be a number ≥ 0, got {}",
                self.noise_stddev
            )));
        }
        if self.shift > 1000 || self.crop_padding > 1000 {
            return Err(Error::Config(
                "[augmentation] shift and crop_padding must be at most 1000 pixels".into(),
            ));
        }
        Ok(())
    }

    /// Sets the background to the value `scaler` gives a black (all-zero) sample of
    /// `features` values: 0 with `scale = "unit"`, -mean/std per pixel with `"standard"`.
    pub fn with_background(mut self, scaler: &crate::data::Scaler, features: usize) -> Self {
        let mut black = Tensor::zeros(&[1, features]);
        scaler.apply(&mut black);
        self.background = black.data().to_vec();
        self
    }

    /// (H, W, C) of a sample shape, or an error naming the shape.
    pub fn image_shape(sample_shape: &[usize]) -> Result<(usize, usize, usize)> {
        match *sample_shape {
            [h, w] => Ok((h, w, 1)),
            [h, w, c] => Ok((h, w, c)),
            _ => Err(Error::Config(format!(
                "augmentation needs image samples of shape (H, W) or (H, W, C), not {sample_shape:?}"
            ))),
        }
    }

    /// Augments every sample of `batch` (B, H, W[, C]) in place; `scratch` is reused.
    pub fn apply(&self, batch: &mut Tensor, rng: &mut Rng, scratch: &mut Vec<f32>) -> Result<()> {
        let (h, w, c) = Augmentation::image_shape(&batch.shape()[1..])?;
        let size = h * w * c;
        let noise = Normal::new(0.0f32, self.noise_stddev.max(0.0)).ok();
        for sample in batch.data_mut().chunks_exact_mut(size) {
            let max_shift = (self.shift + self.crop_padding) as i64;
            let mut offset = |limit: i64| {
                if limit > 0 {
                    rng.random_range(-limit..=limit) as f32
                } else {
                    0.0
                }
            };
            let (dy, dx) = (offset(max_shift), offset(max_shift));
            let flip = self.horizontal_flip && rng.random::<bool>();
            let angle = if self.rotation > 0.0 {
                rng.random_range(-self.rotation..=self.rotation)
                    .to_radians()
            } else {
                0.0
            };
            if dx != 0.0 || dy != 0.0 || flip || angle != 0.0 {
                scratch.clear();
                scratch.extend_from_slice(sample);
                warp(
                    scratch,
                    sample,
                    &self.background,
                    (h, w, c),
                    (dy, dx),
                    flip,
                    angle,
                );
            }
            if let (Some(normal), true) = (noise, self.noise_stddev > 0.0) {
                for v in sample.iter_mut() {
                    *v += normal.sample(rng);
                }
            }
        }
        Ok(())
    }
}

/// out(i, j) = src(R⁻¹((i, j) - centre) + centre - shift), mirrored first when `flip`; source
/// positions outside the image read `background` at (i, j) (0 when it is empty).
fn warp(
    src: &[f32],
    out: &mut [f32],
    background: &[f32],
    (h, w, c): (usize, usize, usize),
    (dy, dx): (f32, f32),
    flip: bool,
    angle: f32,
) {
    let (cy, cx) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
    let (sin, cos) = angle.sin_cos();
    for i in 0..h {
        for j in 0..w {
            let jj = if flip { w - 1 - j } else { j } as f32;
            let (y, x) = (i as f32 - cy - dy, jj - cx - dx);
            let (sy, sx) = (cos * y + sin * x + cy, -sin * y + cos * x + cx);
            for ch in 0..c {
                let k = (i * w + j) * c + ch;
                let fill = background.get(k).copied().unwrap_or(0.0);
                out[k] = bilinear(src, (h, w, c), sy, sx, ch, fill);
            }
        }
    }
}

fn bilinear(
    src: &[f32],
    (h, w, c): (usize, usize, usize),
    y: f32,
    x: f32,
    ch: usize,
    fill: f32,
) -> f32 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let at = |yy: f32, xx: f32| -> f32 {
        if yy < 0.0 || xx < 0.0 || yy >= h as f32 || xx >= w as f32 {
            fill
        } else {
            src[(yy as usize * w + xx as usize) * c + ch]
        }
    };
    at(y0, x0) * (1.0 - fy) * (1.0 - fx)
        + at(y0, x0 + 1.0) * (1.0 - fy) * fx
        + at(y0 + 1.0, x0) * fy * (1.0 - fx)
        + at(y0 + 1.0, x0 + 1.0) * fy * fx
}

/// Writes a PNG grid: one row per sample of `images` (the first `rows`), the original first,
/// then `variants` augmented copies; each image min-max scaled to grey levels, 3× enlarged.
pub fn write_grid(
    path: &Path,
    images: &Tensor,
    augmentation: &Augmentation,
    rows: usize,
    variants: usize,
    rng: &mut Rng,
) -> Result<()> {
    let (h, w, c) = Augmentation::image_shape(&images.shape()[1..])?;
    let rows = rows.min(images.rows());
    let zoom = 3;
    let (cell_h, cell_w) = (h * zoom + 2, w * zoom + 2);
    let (width, height) = ((variants + 1) * cell_w, rows * cell_h);
    let mut pixels = vec![255u8; width * height];
    let mut scratch = Vec::new();
    for r in 0..rows {
        for v in 0..=variants {
            let mut one = Tensor::from_vec(images.row(r).to_vec(), &[1, h, w, c]);
            if v > 0 {
                augmentation.apply(&mut one, rng, &mut scratch)?;
            }
            let grey: Vec<f32> = one
                .data()
                .chunks_exact(c)
                .map(|p| p.iter().sum::<f32>() / c as f32)
                .collect();
            let (lo, hi) = grey
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                });
            let span = (hi - lo).max(1e-6);
            for i in 0..h * zoom {
                for j in 0..w * zoom {
                    let value = (grey[(i / zoom) * w + j / zoom] - lo) / span;
                    let (y, x) = (r * cell_h + 1 + i, v * cell_w + 1 + j);
                    pixels[y * width + x] = (255.0 * (1.0 - value)) as u8;
                }
            }
        }
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width as u32, height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| Error::format(path, e.to_string()))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| Error::format(path, e.to_string()))?;
    }
    io::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn image() -> Tensor {
        // A 6×6 image with one bright pixel at (1, 2).
        let mut t = Tensor::zeros(&[1, 6, 6]);
        t.data_mut()[6 + 2] = 1.0;
        t
    }

    #[test]
    fn shift_moves_and_flip_mirrors() {
        let mut rng = Rng::seed_from_u64(0);
        let flip = Augmentation {
            horizontal_flip: true,
            ..Augmentation::default()
        };
        // Over several draws, a flipped image has its pixel at (1, 3).
        let mut seen_flip = false;
        for _ in 0..10 {
            let mut t = image();
            flip.apply(&mut t, &mut rng, &mut Vec::new()).unwrap();
            let at = t.data().iter().position(|&v| v == 1.0).unwrap();
            assert!(at == 6 + 2 || at == 6 + 3, "{at}");
            seen_flip |= at == 6 + 3;
        }
        assert!(seen_flip);
        let shift = Augmentation {
            shift: 2,
            ..Augmentation::default()
        };
        for _ in 0..10 {
            let mut t = image();
            shift.apply(&mut t, &mut rng, &mut Vec::new()).unwrap();
            // Integer shifts move the pixel without blurring it (or move it out of the image).
            let total: f32 = t.data().iter().sum();
            assert!(total == 1.0 || total == 0.0, "{total}");
        }
    }

    #[test]
    fn rotation_by_a_quarter_turn_turns_the_image() {
        let mut src = vec![0.0f32; 9];
        src[1] = 1.0; // top middle of a 3×3 image
        let mut out = vec![0.0f32; 9];
        warp(
            &src,
            &mut out,
            &[],
            (3, 3, 1),
            (0.0, 0.0),
            false,
            std::f32::consts::FRAC_PI_2,
        );
        let at = out.iter().position(|&v| (v - 1.0).abs() < 1e-5).unwrap();
        assert!(
            at == 3 || at == 5,
            "quarter turn puts the top pixel on a side: {out:?}"
        );
    }

    /// After standard scaling, black is -mean/std, not 0: pixels shifted into the frame get
    /// that value, so the shifted image is still black at its border.
    #[test]
    fn shifted_in_pixels_take_the_scaled_background() {
        use crate::data::{Scale, Scaler};
        // Black images with a bright centre, standardized per pixel.
        let mut raw = Tensor::zeros(&[4, 6, 6]);
        for (k, v) in raw.data_mut().iter_mut().enumerate() {
            if k % 36 == 14 || k % 36 == 15 {
                *v = 1.0 + (k / 36) as f32;
            }
            if k % 36 == 0 {
                *v = (k / 36) as f32 * 0.5;
            }
        }
        let scaler = Scaler::fit(Scale::Standard, &raw);
        let mut scaled = raw.clone();
        scaler.apply(&mut scaled);
        let shift = Augmentation {
            shift: 3,
            ..Augmentation::default()
        }
        .with_background(&scaler, 36);
        let mut black = Tensor::zeros(&[1, 36]);
        scaler.apply(&mut black);
        let mut rng = Rng::seed_from_u64(1);
        let mut moved = 0;
        for _ in 0..20 {
            let mut t = Tensor::from_vec(scaled.row(0).to_vec(), &[1, 6, 6]);
            shift.apply(&mut t, &mut rng, &mut Vec::new()).unwrap();
            // Every pixel is either a moved source pixel or the scaled black of its position.
            for (k, &v) in t.data().iter().enumerate() {
                let from_source = scaled.row(0).contains(&v);
                assert!(from_source || v == black.data()[k], "pixel {k}: {v}");
                moved += usize::from(!from_source);
            }
        }
        assert!(moved > 0, "no pixel came from outside the frame");
    }

    #[test]
    fn flat_samples_are_refused() {
        let mut t = Tensor::zeros(&[2, 784]);
        let err = Augmentation {
            shift: 1,
            ..Augmentation::default()
        }
        .apply(&mut t, &mut Rng::seed_from_u64(0), &mut Vec::new())
        .unwrap_err();
        assert!(err.to_string().contains("(H, W)"), "{err}");
    }
}

//! Real digit images: MNIST (idx format, gzip) and the 8x8 optdigits (CSV), embedded in the
//! binary so every study and the app have them wherever they run. Loaders check the format
//! (magic numbers, sizes, counts, label range): a corrupt file is an error naming the file
//! and what is wrong, never a silently wrong data set.

use std::io::Read;
use std::path::Path;

use rand::seq::SliceRandom;

use crate::{DataError, Result};

/// Grey-level images of one size, pixels in [0, 1], row-major, one image after another.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Digits {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image.
    pub fn size(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * self.size()..(i + 1) * self.size()]
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Digits {
        let mut pixels = Vec::with_capacity(indices.len() * self.size());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        Digits { rows: self.rows, cols: self.cols, pixels, labels: indices.iter().map(|&i| self.labels[i]).collect() }
    }

    /// Images per class 0..=9.
    pub fn histogram(&self) -> [usize; 10] {
        let mut h = [0; 10];
        for &l in &self.labels {
            h[l as usize] += 1;
        }
        h
    }

    /// A seeded shuffle (the bundled training digits come grouped by class).
    pub fn shuffled(&self, rng: &mut crate::Rng) -> Digits {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(rng);
        self.select(&order)
    }

    /// A seeded split into `(first, rest)` with `first` holding `n` images.
    pub fn split(&self, n: usize, rng: &mut crate::Rng) -> (Digits, Digits) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(rng);
        let n = n.min(order.len());
        (self.select(&order[..n]), self.select(&order[n..]))
    }

    /// Every image through `f` (a domain's transform), labels kept.
    pub fn map_images(&self, mut f: impl FnMut(&[f32]) -> Vec<f32>) -> Digits {
        let mut pixels = Vec::with_capacity(self.pixels.len());
        for i in 0..self.len() {
            let out = f(self.image(i));
            debug_assert_eq!(out.len(), self.size());
            pixels.extend(out);
        }
        Digits { rows: self.rows, cols: self.cols, pixels, labels: self.labels.clone() }
    }
}

/// Which bundled MNIST digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mnist {
    /// The 10,000 test digits.
    Test,
    /// The first 10,000 training digits (grouped by class in the file).
    TrainFirst10k,
}

const T10K_IMAGES: &[u8] = include_bytes!("../../../assets/data/digits/t10k-images-idx3-ubyte.gz");
const T10K_LABELS: &[u8] = include_bytes!("../../../assets/data/digits/t10k-labels-idx1-ubyte.gz");
const TRAIN_IMAGES: &[u8] = include_bytes!("../../../assets/data/digits/mnist-train-first10k-images-idx3-ubyte.gz");
const TRAIN_LABELS: &[u8] = include_bytes!("../../../assets/data/digits/mnist-train-first10k-labels-idx1-ubyte.gz");
const OPTDIGITS: &[u8] = include_bytes!("../../../assets/data/digits/optdigits-8x8.csv.gz");

/// The bundled MNIST digits, checked as they are decoded.
pub fn mnist(which: Mnist) -> Result<Digits> {
    match which {
        Mnist::Test => idx_digits(("t10k-images-idx3-ubyte.gz", T10K_IMAGES), ("t10k-labels-idx1-ubyte.gz", T10K_LABELS)),
        Mnist::TrainFirst10k => idx_digits(
            ("mnist-train-first10k-images-idx3-ubyte.gz", TRAIN_IMAGES),
            ("mnist-train-first10k-labels-idx1-ubyte.gz", TRAIN_LABELS),
        ),
    }
}

/// All 20,000 bundled MNIST digits (test set, then the first training digits).
pub fn mnist_all() -> Result<Digits> {
    let mut a = mnist(Mnist::Test)?;
    let b = mnist(Mnist::TrainFirst10k)?;
    a.pixels.extend(b.pixels);
    a.labels.extend(b.labels);
    Ok(a)
}

/// MNIST-format files on disk (gzip or plain).
pub fn load_idx(images: &Path, labels: &Path) -> Result<Digits> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| DataError::new(&p.display().to_string(), format!("cannot read: {e}")));
    idx_digits((&images.display().to_string(), &read(images)?), (&labels.display().to_string(), &read(labels)?))
}

fn gunzip(name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // A cap, so a small crafted file cannot decompress into all the memory there is.
        const CAP: u64 = 1 << 30;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(CAP + 1)
            .read_to_end(&mut out)
            .map_err(|e| DataError::new(name, format!("not a valid gzip stream: {e}")))?;
        if out.len() as u64 > CAP {
            return Err(DataError::new(name, "decompresses to more than 1 GiB: not a digit file".into()));
        }
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn idx_digits(images: (&str, &[u8]), labels: (&str, &[u8])) -> Result<Digits> {
    let (iname, ibytes) = (images.0, gunzip(images.0, images.1)?);
    let (lname, lbytes) = (labels.0, gunzip(labels.0, labels.1)?);
    if ibytes.len() < 16 {
        return Err(DataError::new(iname, format!("{} bytes is too short for an idx3 header (16)", ibytes.len())));
    }
    if be_u32(&ibytes, 0) != 2051 {
        return Err(DataError::new(iname, format!("magic number {} is not 2051 (idx3 images)", be_u32(&ibytes, 0))));
    }
    let (n, rows, cols) = (be_u32(&ibytes, 4) as usize, be_u32(&ibytes, 8) as usize, be_u32(&ibytes, 12) as usize);
    if rows == 0 || cols == 0 || rows > 1024 || cols > 1024 {
        return Err(DataError::new(iname, format!("image size {rows}x{cols} is not plausible")));
    }
    let want = 16 + n * rows * cols;
    if ibytes.len() != want {
        return Err(DataError::new(
            iname,
            format!("the header promises {n} images of {rows}x{cols} ({want} bytes) but the file has {}", ibytes.len()),
        ));
    }
    if lbytes.len() < 8 || be_u32(&lbytes, 0) != 2049 {
        return Err(DataError::new(lname, "not an idx1 label file (magic number 2049)".to_owned()));
    }
    let nl = be_u32(&lbytes, 4) as usize;
    if lbytes.len() != 8 + nl {
        return Err(DataError::new(lname, format!("the header promises {nl} labels but the file has {} bytes", lbytes.len() - 8)));
    }
    if nl != n {
        return Err(DataError::new(lname, format!("{nl} labels for {n} images in {iname}")));
    }
    let labels = lbytes[8..].to_vec();
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
        return Err(DataError::new(lname, format!("label {l} of image {i} is not a digit 0..9")));
    }
    let pixels = ibytes[16..].iter().map(|&b| b as f32 / 255.0).collect();
    Ok(Digits { rows, cols, pixels, labels })
}

/// The bundled 8x8 optdigits (1,797 digits, pixels 0..16 scaled to [0, 1]).
pub fn optdigits() -> Result<Digits> {
    parse_optdigits("optdigits-8x8.csv.gz", &gunzip("optdigits-8x8.csv.gz", OPTDIGITS)?)
}

fn parse_optdigits(name: &str, bytes: &[u8]) -> Result<Digits> {
    let text = std::str::from_utf8(bytes).map_err(|e| DataError::new(name, format!("not UTF-8 text: {e}")))?;
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = |m: String| DataError::new(&format!("{name}:{}", i + 1), m);
        let values: Vec<&str> = line.split(',').collect();
        if values.len() != 65 {
            return Err(at(format!("{} fields; expected 64 pixels and a label", values.len())));
        }
        for (c, v) in values[..64].iter().enumerate() {
            let p: f32 = v.trim().parse().map_err(|_| at(format!("pixel {c}: `{v}` is not a number")))?;
            if !(0.0..=16.0).contains(&p) {
                return Err(at(format!("pixel {c}: {p} is outside 0..16")));
            }
            pixels.push(p / 16.0);
        }
        let label: u8 =
            values[64].trim().parse().ok().filter(|l| *l <= 9).ok_or_else(|| at(format!("label `{}` is not a digit 0..9", values[64])))?;
        labels.push(label);
    }
    Ok(Digits { rows: 8, cols: 8, pixels, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_mnist_test_set_has_its_known_counts_labels_and_pixels() {
        let d = mnist(Mnist::Test).unwrap();
        assert_eq!((d.len(), d.rows, d.cols), (10_000, 28, 28));
        // The official MNIST test-set class counts.
        assert_eq!(d.histogram(), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
        assert_eq!(&d.labels[..5], &[7, 2, 1, 0, 4]);
        // The first test digit (a 7): its top bar runs along row 8 (bytes read independently
        // with Python's gzip: 222, 254, ... from column 6); the corner is empty.
        assert_eq!(d.image(0)[0], 0.0);
        assert_eq!(d.image(0)[8 * 28 + 6], 222.0 / 255.0);
        assert_eq!(d.image(0)[8 * 28 + 10], 1.0 - 1.0 / 255.0);
    }

    #[test]
    fn the_bundled_training_digits_are_grouped_by_class_and_shuffle_reproducibly() {
        let d = mnist(Mnist::TrainFirst10k).unwrap();
        assert_eq!(d.len(), 10_000);
        assert!(d.labels.windows(2).all(|w| w[0] <= w[1]), "grouped by class in the file");
        let a = d.shuffled(&mut crate::rng(3, 0));
        let b = d.shuffled(&mut crate::rng(3, 0));
        assert_eq!(a, b);
        assert!(a.labels[..100].iter().any(|&l| l != a.labels[0]), "shuffled");
        assert_eq!(a.histogram(), d.histogram());
        assert_eq!(mnist_all().unwrap().len(), 20_000);
    }

    #[test]
    fn optdigits_load_with_their_count() {
        let d = optdigits().unwrap();
        assert_eq!((d.len(), d.rows, d.cols), (1797, 8, 8));
        assert!(d.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn corrupt_files_are_errors_that_say_what_is_wrong() {
        let labels = gunzip("l", T10K_LABELS).unwrap();
        let images = gunzip("i", T10K_IMAGES).unwrap();
        let truncated = &images[..images.len() - 100];
        let err = idx_digits(("imgs.gz", truncated), ("labels.gz", &labels)).unwrap_err().to_string();
        assert!(err.starts_with("imgs.gz: the header promises 10000 images"), "{err}");
        let mut bad_magic = images.clone();
        bad_magic[3] = 0;
        let err = idx_digits(("imgs.gz", &bad_magic), ("labels.gz", &labels)).unwrap_err().to_string();
        assert!(err.contains("magic number"), "{err}");
        let mut bad_label = labels.clone();
        bad_label[8 + 5] = 12;
        let err = idx_digits(("imgs.gz", &images), ("labels.gz", &bad_label)).unwrap_err().to_string();
        assert_eq!(err, "labels.gz: label 12 of image 5 is not a digit 0..9");
        let err = gunzip("x.gz", &[0x1f, 0x8b, 1, 2, 3]).unwrap_err().to_string();
        assert!(err.starts_with("x.gz: not a valid gzip stream"), "{err}");
        let err = parse_optdigits("o.csv", b"1,2,3\n").unwrap_err().to_string();
        assert_eq!(err, "o.csv:1: 3 fields; expected 64 pixels and a label");
    }
}

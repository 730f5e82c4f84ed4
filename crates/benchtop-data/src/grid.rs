//! A grid of sample images as a PNG: one row per domain, so a researcher sees what the
//! domains of a run look like (written as a run artifact).

use std::path::Path;

use crate::{DataError, Result};

/// Write `rows` (each a list of `h x w` images with pixels in [0, 1]) as a PNG in grey, each
/// image scaled up `zoom` times, with a 2-pixel grey gap between images.
pub fn write_grid_png(rows: &[Vec<&[f32]>], h: usize, w: usize, zoom: usize, path: &Path) -> Result<()> {
    let grey = |v: f32| {
        let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        [g, g, g]
    };
    let rgb: Vec<Vec<Vec<[u8; 3]>>> =
        rows.iter().map(|images| images.iter().map(|img| img.iter().map(|v| grey(*v)).collect()).collect()).collect();
    write_rgb_grid_png(&rgb, h, w, zoom, path)
}

/// Write `rows` of colour images (`h x w` RGB pixels each) as a PNG, each scaled up `zoom`
/// times with a 2-pixel grey gap between images: masks and class maps drawn over scenes.
pub fn write_rgb_grid_png(rows: &[Vec<Vec<[u8; 3]>>], h: usize, w: usize, zoom: usize, path: &Path) -> Result<()> {
    let zoom = zoom.max(1);
    let gap = 2;
    let per_row = rows.iter().map(Vec::len).max().unwrap_or(0);
    let (width, height) = (gap + per_row * (w * zoom + gap), gap + rows.len() * (h * zoom + gap));
    let mut canvas = vec![128u8; width * height * 3];
    for (r, images) in rows.iter().enumerate() {
        for (c, img) in images.iter().enumerate() {
            let (oy, ox) = (gap + r * (h * zoom + gap), gap + c * (w * zoom + gap));
            for y in 0..h * zoom {
                for x in 0..w * zoom {
                    let p = img.get((y / zoom) * w + x / zoom).copied().unwrap_or([0, 0, 0]);
                    let at = ((oy + y) * width + ox + x) * 3;
                    canvas[at..at + 3].copy_from_slice(&p);
                }
            }
        }
    }
    let err = |e: String| DataError::new(&path.display().to_string(), e);
    let file = std::fs::File::create(path).map_err(|e| err(format!("cannot write: {e}")))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| err(e.to_string()))?;
    writer.write_image_data(&canvas).map_err(|e| err(e.to_string()))?;
    writer.finish().map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_png_has_the_size_of_its_images_and_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let d = crate::digits::mnist(crate::digits::Mnist::Test).unwrap();
        let rotated: Vec<Vec<f32>> = (0..3).map(|i| crate::transforms::rotate(d.image(i), 28, 28, 45.0)).collect();
        let rows = vec![(0..3).map(|i| d.image(i)).collect::<Vec<_>>(), rotated.iter().map(Vec::as_slice).collect()];
        let path = dir.path().join("grid.png");
        write_grid_png(&rows, 28, 28, 2, &path).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (2 + 3 * (56 + 2), 2 + 2 * (56 + 2)));
    }

    #[test]
    fn a_colour_grid_keeps_its_colours() {
        let dir = tempfile::tempdir().unwrap();
        let red = vec![[255u8, 0, 0]; 4];
        let path = dir.path().join("rgb.png");
        write_rgb_grid_png(&[vec![red]], 2, 2, 3, &path).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        assert_eq!(reader.info().color_type, png::ColorType::Rgb);
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut buf).unwrap();
        let width = frame.width as usize;
        // The gap is grey; the image starts 2 pixels in and is red.
        assert_eq!(&buf[..3], &[128, 128, 128]);
        let at = (2 * width + 2) * 3;
        assert_eq!(&buf[at..at + 3], &[255, 0, 0]);
    }
}

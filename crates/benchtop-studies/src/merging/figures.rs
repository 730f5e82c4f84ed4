//! A sample of each run as a picture: for a few test scenes, the scene with its prompt, the
//! prompted mask, the predicted class map and the truth, side by side.

use benchtop_core::RunContext;
use benchtop_data::grid::write_rgb_grid_png;
use benchtop_data::scenes::BACKGROUND;
use burn::prelude::*;

use super::data::Data;
use super::eval::prompted_masks;
use super::model::Net;

/// Scenes shown.
const SHOWN: usize = 6;

/// A colour per class (a qualitative palette) on black background.
fn class_colour(class: u8) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 10] = [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
    ];
    PALETTE.get(class as usize).copied().unwrap_or([0, 0, 0])
}

fn grey(v: f32) -> [u8; 3] {
    let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    [g, g, g]
}

/// Writes `samples.png`: per shown scene, the image with the click (green), the prompted
/// mask over it (red), `maps`' classes on the digits' pixels, and the true classes. `net`
/// predicts the masks (teacher S, or the merged model); `maps` are its run's class maps.
pub fn write_samples(ctx: &RunContext, net: &Net, maps: &[Vec<u8>], data: &Data, device: &Device) {
    if std::fs::create_dir_all(ctx.artifacts_dir()).is_err() {
        return;
    }
    let side = data.side;
    // The first prompt of each of the first scenes.
    let picks: Vec<usize> = (0..SHOWN).filter_map(|s| data.test_samples.iter().position(|p| p.scene == s)).collect();
    let samples: Vec<_> = picks.iter().map(|&i| data.test_samples[i]).collect();
    let Ok(masks) = prompted_masks(net, &data.test_scenes, &samples, device) else {
        return;
    };
    let mut rows = Vec::new();
    for (p, mask) in samples.iter().zip(&masks) {
        let scene = &data.test_scenes.scenes[p.scene];
        let mut clicked: Vec<[u8; 3]> = scene.image.iter().map(|v| grey(*v)).collect();
        let mut masked = clicked.clone();
        for (q, inside) in mask.iter().enumerate() {
            if *inside {
                let g = (scene.image[q] * 255.0) as u8;
                masked[q] = [255, g / 2, g / 2];
            }
        }
        for dy in 0..3 {
            for dx in 0..3 {
                let (y, x) = ((p.row + dy).saturating_sub(1).min(side - 1), (p.col + dx).saturating_sub(1).min(side - 1));
                clicked[y * side + x] = [0, 255, 0];
                masked[y * side + x] = [0, 255, 0];
            }
        }
        let on_digits = |classes: &[u8]| -> Vec<[u8; 3]> {
            classes.iter().zip(&scene.classes).map(|(c, t)| if *t == BACKGROUND { [0, 0, 0] } else { class_colour(*c) }).collect()
        };
        let predicted = maps.get(p.scene).map(|m| on_digits(m)).unwrap_or_else(|| vec![[0, 0, 0]; side * side]);
        rows.push(vec![clicked, masked, predicted, on_digits(&scene.classes)]);
    }
    let path = ctx.artifacts_dir().join("samples.png");
    if write_rgb_grid_png(&rows, side, side, 3, &path).is_ok() {
        ctx.record_artifact("samples.png", path);
    }
}

//! Camera poses in the NeRF / Instant-NGP `transforms.json` format, and the bundled
//! NeRF-synthetic Lego poses (`assets/data/poses/`, sources in `SOURCES.md` there).
//!
//! A frame's `transform_matrix` is camera-to-world in OpenGL's convention: the camera looks
//! along its −z axis with +y up, and its centre is the fourth column. The lens is either
//! `camera_angle_x` (NeRF: the horizontal field of view, radians) or `fl_x` with `w` (Instant-
//! NGP: focal length and width in pixels, with `fl_y`, `h`, `cx`, `cy` when present).
//!
//! Every error names the file and the field (`frames[3].transform_matrix[1][2]`); syntax
//! errors also give serde_json's line and column.

use nalgebra::{Matrix3, Vector3};
use serde_json::Value;

use crate::{DataError, Result};

/// The lens every frame of a file shares: the field of view as half-angle tangents, and where
/// the principal point sits as a fraction of the image (0.5 = centred).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lens {
    pub tan_half_x: f64,
    pub tan_half_y: f64,
    pub cx_frac: f64,
    pub cy_frac: f64,
}

impl Lens {
    /// A centred lens with horizontal field of view `fov_x` (radians) and width/height `aspect`,
    /// square pixels.
    pub fn from_fov(fov_x: f64, aspect: f64) -> Self {
        let tan_half_x = (fov_x / 2.0).tan();
        Lens { tan_half_x, tan_half_y: tan_half_x / aspect, cx_frac: 0.5, cy_frac: 0.5 }
    }

    /// Image width over height, for square pixels.
    pub fn aspect(&self) -> f64 {
        self.tan_half_x / self.tan_half_y
    }
}

/// One camera: where it is and how it is turned.
#[derive(Clone, Debug, PartialEq)]
pub struct Pose {
    /// The frame's name (`file_path`, or its index).
    pub name: String,
    pub centre: Vector3<f64>,
    /// Camera-to-world rotation: its columns are the camera's right, up and back (it looks
    /// along the third column's negative).
    pub rotation: Matrix3<f64>,
}

impl Pose {
    /// The unit vector the camera looks along.
    pub fn forward(&self) -> Vector3<f64> {
        -self.rotation.column(2).into_owned()
    }

    /// A camera at `centre` looking at `target` with `up` as close to up as the view allows.
    pub fn look_at(name: String, centre: Vector3<f64>, target: Vector3<f64>, up: Vector3<f64>) -> Self {
        let forward = (target - centre).try_normalize(1e-12).unwrap_or_else(|| Vector3::new(0.0, 1.0, 0.0));
        let right = forward.cross(&up).try_normalize(1e-9).unwrap_or_else(|| forward.cross(&Vector3::x()).normalize());
        let true_up = right.cross(&forward);
        Pose { name, centre, rotation: Matrix3::from_columns(&[right, true_up, -forward]) }
    }
}

/// The cameras of one file.
#[derive(Clone, Debug, PartialEq)]
pub struct PoseSet {
    pub lens: Lens,
    pub frames: Vec<Pose>,
}

/// Read a `transforms.json` text; `file` names it in errors.
pub fn read_transforms(text: &str, file: &str) -> Result<PoseSet> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| DataError::new(file, format!("not valid JSON at line {}, column {}: {e}", e.line(), e.column())))?;
    let err = |field: &str, message: String| DataError::new(file, format!("{field}: {message}"));
    let Value::Object(top) = &root else { return Err(err("(top level)", "must be an object with `frames`".into())) };
    let lens = read_lens(top, &err)?;
    let frames = match top.get("frames") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => return Err(err("frames", "is empty; a pose file needs at least one frame".into())),
        Some(_) => return Err(err("frames", "must be an array of frames".into())),
        None => return Err(err("frames", "is missing".into())),
    };
    let mut out = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let at = format!("frames[{i}]");
        let Value::Object(f) = frame else { return Err(err(&at, "must be an object".into())) };
        let name = match f.get("file_path") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(err(&format!("{at}.file_path"), "must be a string".into())),
            None => format!("frame {i}"),
        };
        let field = format!("{at}.transform_matrix");
        let m = read_matrix(f.get("transform_matrix"), &field, &err)?;
        let rotation = Matrix3::new(m[0][0], m[0][1], m[0][2], m[1][0], m[1][1], m[1][2], m[2][0], m[2][1], m[2][2]);
        check_rotation(&rotation).map_err(|why| err(&field, why))?;
        out.push(Pose { name, centre: Vector3::new(m[0][3], m[1][3], m[2][3]), rotation });
    }
    Ok(PoseSet { lens, frames: out })
}

/// Read a `transforms.json` file from disk.
pub fn read_transforms_file(path: &std::path::Path) -> Result<PoseSet> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| DataError::new(&file, format!("cannot read: {e}")))?;
    read_transforms(&text, &file)
}

const LEGO: [(&str, &str); 3] = [
    (
        "poses/nerf_synthetic_lego/transforms_train.json",
        include_str!("../../../../assets/data/poses/nerf_synthetic_lego/transforms_train.json"),
    ),
    (
        "poses/nerf_synthetic_lego/transforms_val.json",
        include_str!("../../../../assets/data/poses/nerf_synthetic_lego/transforms_val.json"),
    ),
    (
        "poses/nerf_synthetic_lego/transforms_test.json",
        include_str!("../../../../assets/data/poses/nerf_synthetic_lego/transforms_test.json"),
    ),
];

/// The bundled NeRF-synthetic Lego poses: train, val and test frames (400) in that order.
pub fn lego() -> Result<PoseSet> {
    let mut all: Option<PoseSet> = None;
    for (file, text) in LEGO {
        let set = read_transforms(text, file)?;
        match &mut all {
            None => all = Some(set),
            Some(a) => a.frames.extend(set.frames),
        }
    }
    all.ok_or_else(|| DataError::new("poses/nerf_synthetic_lego", "no files".into()))
}

fn number(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64).filter(|x| x.is_finite())
}

fn read_lens(top: &serde_json::Map<String, Value>, err: &impl Fn(&str, String) -> DataError) -> Result<Lens> {
    let positive = |key: &str| -> Result<Option<f64>> {
        match top.get(key) {
            None => Ok(None),
            Some(v) => match number(Some(v)) {
                Some(x) if x > 0.0 => Ok(Some(x)),
                _ => Err(err(key, format!("must be a positive number, found {v}"))),
            },
        }
    };
    let (w, h) = (positive("w")?, positive("h")?);
    let angle = |key: &str| -> Result<Option<f64>> {
        match positive(key)? {
            Some(a) if a >= std::f64::consts::PI => Err(err(key, format!("must be below pi radians, found {a}"))),
            other => Ok(other),
        }
    };
    let tan_half_x = if let Some(a) = angle("camera_angle_x")? {
        (a / 2.0).tan()
    } else if let Some(fx) = positive("fl_x")? {
        let w = w.ok_or_else(|| err("w", "is needed with fl_x (the image width in pixels)".into()))?;
        w / 2.0 / fx
    } else {
        return Err(err("camera_angle_x", "is missing (a lens needs camera_angle_x, or fl_x with w)".into()));
    };
    let aspect = match (w, h) {
        (Some(w), Some(h)) => w / h,
        _ => 1.0,
    };
    let tan_half_y = if let Some(a) = angle("camera_angle_y")? {
        (a / 2.0).tan()
    } else if let (Some(fy), Some(h)) = (positive("fl_y")?, h) {
        h / 2.0 / fy
    } else {
        tan_half_x / aspect
    };
    let frac = |key: &str, size: Option<f64>| -> Result<f64> {
        match (top.get(key), size) {
            (None, _) => Ok(0.5),
            (Some(v), Some(size)) => match number(Some(v)) {
                Some(c) if (0.0..=size).contains(&c) => Ok(c / size),
                _ => Err(err(key, format!("must be a number from 0 to the image size ({size}), found {v}"))),
            },
            (Some(_), None) => Err(err(key, "needs the image size (w and h) beside it".into())),
        }
    };
    Ok(Lens { tan_half_x, tan_half_y, cx_frac: frac("cx", w)?, cy_frac: frac("cy", h)? })
}

fn read_matrix(v: Option<&Value>, field: &str, err: &impl Fn(&str, String) -> DataError) -> Result<[[f64; 4]; 4]> {
    let rows = match v {
        Some(Value::Array(rows)) if rows.len() == 3 || rows.len() == 4 => rows,
        Some(Value::Array(rows)) => return Err(err(field, format!("must have 3 or 4 rows, found {}", rows.len()))),
        Some(_) => return Err(err(field, "must be a 4x4 array of numbers".into())),
        None => return Err(err(field, "is missing".into())),
    };
    let mut m = [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
    for (r, row) in rows.iter().enumerate() {
        let Value::Array(cells) = row else { return Err(err(&format!("{field}[{r}]"), "must be an array of 4 numbers".into())) };
        if cells.len() != 4 {
            return Err(err(&format!("{field}[{r}]"), format!("must have 4 numbers, found {}", cells.len())));
        }
        for (c, cell) in cells.iter().enumerate() {
            m[r][c] =
                number(Some(cell)).ok_or_else(|| err(&format!("{field}[{r}][{c}]"), format!("must be a finite number, found {cell}")))?;
        }
    }
    let last = m[3];
    if (last[0].abs() + last[1].abs() + last[2].abs() + (last[3] - 1.0).abs()) > 1e-6 {
        return Err(err(&format!("{field}[3]"), format!("must be [0, 0, 0, 1] for a rigid camera-to-world transform, found {last:?}")));
    }
    Ok(m)
}

/// A rotation's columns are unit length and orthogonal and it keeps handedness (tolerance
/// 1e-3, far above the rounding of files written as float32).
fn check_rotation(r: &Matrix3<f64>) -> std::result::Result<(), String> {
    let gram = r.transpose() * r;
    let off = (gram - Matrix3::identity()).abs().max();
    if off > 1e-3 {
        return Err(format!(
            "the 3x3 rotation part is not orthonormal (R^T R differs from I by {off:.2e}); scaled or sheared poses are not supported"
        ));
    }
    if r.determinant() < 0.0 {
        return Err("the 3x3 rotation part is a reflection (determinant -1)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_lego_poses_load_with_their_lens() {
        let set = lego().unwrap();
        assert_eq!(set.frames.len(), 400);
        assert!((set.lens.tan_half_x - (0.6911112070083618f64 / 2.0).tan()).abs() < 1e-12);
        assert_eq!(set.lens.aspect(), 1.0);
        // NeRF-synthetic cameras sit about 4 units from the origin and look at it.
        for p in &set.frames {
            let r = p.centre.norm();
            assert!((3.9..4.2).contains(&r), "{}: radius {r}", p.name);
            let cos = p.forward().dot(&(-p.centre / r));
            assert!(cos > 0.99, "{} does not look at the origin ({cos})", p.name);
        }
    }

    #[test]
    fn instant_ngp_intrinsics_are_read() {
        let text = r#"{"fl_x": 100, "fl_y": 50, "w": 200, "h": 80, "cx": 100, "cy": 20,
            "frames": [{"file_path": "a.png", "transform_matrix": [[1,0,0,1],[0,1,0,2],[0,0,1,3]]}]}"#;
        let set = read_transforms(text, "t.json").unwrap();
        assert_eq!(set.lens, Lens { tan_half_x: 1.0, tan_half_y: 0.8, cx_frac: 0.5, cy_frac: 0.25 });
        assert_eq!(set.frames[0].centre, Vector3::new(1.0, 2.0, 3.0));
        assert_eq!(set.frames[0].forward(), Vector3::new(0.0, 0.0, -1.0));
    }

    #[test]
    fn broken_files_name_the_file_and_the_field() {
        let cases = [
            ("{", "line 1"),
            ("[]", "(top level)"),
            (r#"{"frames": []}"#, "camera_angle_x: is missing"),
            (r#"{"camera_angle_x": 0.7}"#, "frames: is missing"),
            (r#"{"camera_angle_x": 0.7, "frames": []}"#, "frames: is empty"),
            (r#"{"camera_angle_x": -1, "frames": [{}]}"#, "camera_angle_x: must be a positive number"),
            (r#"{"camera_angle_x": 4, "frames": [{}]}"#, "camera_angle_x: must be below pi"),
            (r#"{"fl_x": 10, "frames": [{}]}"#, "w: is needed with fl_x"),
            (r#"{"camera_angle_x": 0.7, "frames": [{}]}"#, "frames[0].transform_matrix: is missing"),
            (r#"{"camera_angle_x": 0.7, "frames": [{"transform_matrix": [[1,0,0,0]]}]}"#, "must have 3 or 4 rows"),
            (
                r#"{"camera_angle_x": 0.7, "frames": [{"transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,"x"]]}]}"#,
                "frames[0].transform_matrix[2][3]: must be a finite number",
            ),
            (r#"{"camera_angle_x": 0.7, "frames": [{"transform_matrix": [[2,0,0,0],[0,1,0,0],[0,0,1,0]]}]}"#, "not orthonormal"),
            (r#"{"camera_angle_x": 0.7, "frames": [{"transform_matrix": [[-1,0,0,0],[0,1,0,0],[0,0,1,0]]}]}"#, "reflection"),
            (
                r#"{"camera_angle_x": 0.7, "frames": [{"transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,1,1]]}]}"#,
                "transform_matrix[3]: must be [0, 0, 0, 1]",
            ),
            (
                r#"{"camera_angle_x": 0.7, "frames": [{"file_path": 3, "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0]]}]}"#,
                "frames[0].file_path",
            ),
            (
                r#"{"camera_angle_x": 0.7, "cx": 5, "frames": [{"transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0]]}]}"#,
                "cx: needs the image size",
            ),
        ];
        for (text, want) in cases {
            let e = read_transforms(text, "my/transforms.json").unwrap_err().to_string();
            assert!(e.starts_with("my/transforms.json: "), "{e}");
            assert!(e.contains(want), "{text}\n  gave {e}\n  want {want}");
        }
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let e = read_transforms_file(std::path::Path::new("/nonexistent/transforms.json")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/transforms.json") && e.contains("cannot read"), "{e}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Arbitrary text never panics the reader; every error names the file.
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            if let Err(e) = read_transforms(&text, "fuzz.json") {
                proptest::prop_assert!(e.to_string().starts_with("fuzz.json: "));
            }
        }

        /// Structurally plausible files with arbitrary numbers never panic either.
        #[test]
        fn arbitrary_numbers_never_panic(angle in proptest::num::f64::ANY, cells in proptest::collection::vec(proptest::num::f64::ANY, 12)) {
            let rows: Vec<String> = cells.chunks(4).map(|c| format!("[{}]", c.iter().map(|x| format!("{x:e}")).collect::<Vec<_>>().join(","))).collect();
            let text = format!(r#"{{"camera_angle_x": {angle:e}, "frames": [{{"transform_matrix": [{}]}}]}}"#, rows.join(","));
            let _ = read_transforms(&text, "fuzz.json");
        }
    }
}

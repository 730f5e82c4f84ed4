//! The bundled Covertype sample: 10,000 real rows of 10 numeric columns, 4 wilderness and
//! 40 soil one-hot columns, and the cover type (1..7). The file's header is one name short,
//! so columns are read by position and named here.

use std::io::Read;

use crate::{DataError, Result};

/// The numeric columns, in file order (the header's names are shifted from column 5 on).
pub const COVERTYPE_NUMERIC: [&str; 10] = [
    "elevation",
    "aspect",
    "slope",
    "horizontal_distance_to_hydrology",
    "vertical_distance_to_hydrology",
    "horizontal_distance_to_roadways",
    "hillshade_9am",
    "hillshade_noon",
    "hillshade_3pm",
    "horizontal_distance_to_fire_points",
];

#[derive(Clone, Debug, PartialEq)]
pub struct Covertype {
    /// Row-major, [`Covertype::WIDTH`] values per row: 10 numeric, 4 wilderness, 40 soil.
    pub features: Vec<f32>,
    /// Cover type 0..=6 (the file's 1..7 minus one).
    pub labels: Vec<u8>,
}

impl Covertype {
    pub const WIDTH: usize = 54;

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * Self::WIDTH..(i + 1) * Self::WIDTH]
    }
}

const COVERTYPE: &[u8] = include_bytes!("../../../assets/data/tabular/covtype-sample-10k.csv.gz");

/// The bundled sample, checked row by row.
pub fn covertype() -> Result<Covertype> {
    let name = "covtype-sample-10k.csv.gz";
    let mut text = String::new();
    flate2::read::GzDecoder::new(COVERTYPE)
        .read_to_string(&mut text)
        .map_err(|e| DataError::new(name, format!("cannot decompress: {e}")))?;
    parse_covertype(name, &text)
}

fn parse_covertype(name: &str, text: &str) -> Result<Covertype> {
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let at = |m: String| DataError::new(&format!("{name}:{}", i + 1), m);
        let values: Vec<&str> = line.split(',').collect();
        if values.len() != Covertype::WIDTH + 1 {
            return Err(at(format!("{} fields; expected {} features and the cover type", values.len(), Covertype::WIDTH)));
        }
        for (c, v) in values[..Covertype::WIDTH].iter().enumerate() {
            let x: f32 = v.trim().parse().map_err(|_| at(format!("column {}: `{v}` is not a number", c + 1)))?;
            if c >= 10 && x != 0.0 && x != 1.0 {
                return Err(at(format!("column {}: one-hot value {x} is not 0 or 1", c + 1)));
            }
            features.push(x);
        }
        let label: u8 = values[Covertype::WIDTH]
            .trim()
            .parse()
            .ok()
            .filter(|l| (1..=7).contains(l))
            .ok_or_else(|| at(format!("cover type `{}` is not 1..7", values[Covertype::WIDTH])))?;
        labels.push(label - 1);
    }
    Ok(Covertype { features, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_covertype_sample_has_its_rows_classes_and_one_hot_groups() {
        let c = covertype().unwrap();
        assert_eq!(c.len(), 10_000);
        let mut counts = [0usize; 7];
        for &l in &c.labels {
            counts[l as usize] += 1;
        }
        assert_eq!(counts, [3696, 4870, 586, 40, 157, 330, 321]);
        for i in [0, 4999, 9999] {
            let row = c.row(i);
            assert_eq!(row[10..14].iter().sum::<f32>(), 1.0, "one wilderness area per row");
            assert_eq!(row[14..54].iter().sum::<f32>(), 1.0, "one soil type per row");
        }
        assert_eq!(c.row(0)[0], 3136.0, "the first row's elevation");
    }

    #[test]
    fn a_bad_row_names_its_line_and_column() {
        let mut text = String::from("header\n");
        text.push_str(&vec!["1"; 55].join(","));
        text.push('\n');
        let mut bad: Vec<&str> = vec!["0"; 55];
        bad[12] = "2";
        text.push_str(&bad.join(","));
        let err = parse_covertype("c.csv", &text).unwrap_err().to_string();
        assert_eq!(err, "c.csv:3: column 13: one-hot value 2 is not 0 or 1");
    }
}

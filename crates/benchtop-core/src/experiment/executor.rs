//! Where an experiment's runs train: in the launching process's pool (`local`, the default)
//! or on a Slurm cluster, one job-array task per run.
//!
//! ```toml
//! executor = "slurm"
//! [slurm]            # every key optional
//! partition = "cpu"
//! time = "0:30:00"   # per run: minutes, MM:SS, HH:MM:SS or D-HH:MM:SS
//! cpus = 2           # per run
//! mem = "4G"         # per run: a number with an optional K, M, G or T
//! throttle = 8       # array tasks running at once, at most
//! report = "inbox"   # how workers send back: "tcp" to the holder, or "inbox" files
//! ```

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Where runs train.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Executor {
    #[default]
    Local,
    Slurm,
}

impl Executor {
    pub fn parse(text: &str) -> Result<Executor, String> {
        match text {
            "local" => Ok(Executor::Local),
            "slurm" => Ok(Executor::Slurm),
            other => Err(format!("unknown executor `{other}`; allowed: local, slurm")),
        }
    }
}

/// How a Slurm launch's workers send back what their runs log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// Over TCP to the store's holder, with its token: the nodes need a route back to it.
    Tcp,
    /// As files in the launch's folder on the file system the nodes share with the store,
    /// which the holder reads: for clusters with no route back, and holders not on TCP.
    Inbox,
}

/// A Slurm launch's options (`[slurm]`). They become `sbatch` arguments, so each is checked
/// to the characters Slurm's own syntax uses: no value can carry anything else into the command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus: Option<u32>,
    pub mem: Option<String>,
    pub throttle: Option<u32>,
    /// Unset: over TCP when the holder listens there, else through the inbox.
    pub report: Option<Report>,
}

impl SlurmOptions {
    /// The first option that is not acceptable: its key and what is wrong.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(p) = &self.partition
            && (p.is_empty() || p.len() > 64 || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
        {
            return Err(("partition", format!("`{p}` is not a partition name; allowed: letters, digits, `_`, `-`, `.`")));
        }
        if let Some(t) = &self.time
            && !time_ok(t)
        {
            return Err(("time", format!("`{t}` is not a Slurm time; allowed: minutes, MM:SS, HH:MM:SS, D-HH or D-HH:MM:SS")));
        }
        if let Some(m) = &self.mem {
            let digits = m.trim_end_matches(['K', 'M', 'G', 'T']);
            if digits.is_empty() || m.len() - digits.len() > 1 || !digits.chars().all(|c| c.is_ascii_digit()) || digits.len() > 9 {
                return Err(("mem", format!("`{m}` is not a memory size; allowed: a number with an optional K, M, G or T (e.g. 4G)")));
            }
        }
        if self.cpus.is_some_and(|c| c == 0 || c > 4096) {
            return Err(("cpus", "allowed: 1 to 4096".into()));
        }
        if self.throttle.is_some_and(|t| t == 0) {
            return Err(("throttle", "allowed: at least 1 (array tasks running at once)".into()));
        }
        Ok(())
    }
}

fn time_ok(t: &str) -> bool {
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (Some(d), rest),
        None => (None, t),
    };
    let number = |s: &str| !s.is_empty() && s.len() <= 6 && s.chars().all(|c| c.is_ascii_digit());
    days.is_none_or(number) && !rest.is_empty() && rest.split(':').count() <= 3 && rest.split(':').all(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_take_slurms_syntax_and_nothing_else() {
        let ok = SlurmOptions {
            partition: Some("cpu-long_2".into()),
            time: Some("1-02:30:00".into()),
            cpus: Some(4),
            mem: Some("16G".into()),
            throttle: Some(8),
            report: Some(Report::Inbox),
        };
        assert_eq!(ok.check(), Ok(()));
        for t in ["30", "10:00", "1:00:00", "2-12", "2-12:00:00"] {
            assert!(time_ok(t), "{t}");
        }
        for t in ["", "1h", "1:2:3:4", "-5", "1;rm", "$(x)"] {
            assert!(!time_ok(t), "{t}");
        }
        let bad = |o: SlurmOptions| o.check().expect_err("refused").0;
        assert_eq!(bad(SlurmOptions { partition: Some("a b".into()), ..SlurmOptions::default() }), "partition");
        assert_eq!(bad(SlurmOptions { partition: Some("x;rm -rf".into()), ..SlurmOptions::default() }), "partition");
        assert_eq!(bad(SlurmOptions { mem: Some("4GB".into()), ..SlurmOptions::default() }), "mem");
        assert_eq!(bad(SlurmOptions { mem: Some("G".into()), ..SlurmOptions::default() }), "mem");
        assert_eq!(bad(SlurmOptions { cpus: Some(0), ..SlurmOptions::default() }), "cpus");
        assert_eq!(bad(SlurmOptions { throttle: Some(0), ..SlurmOptions::default() }), "throttle");
        assert_eq!(Executor::parse("slurm"), Ok(Executor::Slurm));
        assert!(Executor::parse("k8s").is_err());
    }
}

//! [`Args`]: a tiny `--name value` / `--name=value` parser, so the tool needs no CLI crate.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

/// Parsed flags; each getter removes what it read, and [`finish`](Args::finish) rejects
/// whatever no getter asked for (a typo is an error, not a silent default).
#[derive(Debug, Default)]
pub struct Args {
    values: BTreeMap<String, Vec<String>>,
}

impl Args {
    /// Parses `args`; every flag takes a value except those named in `switches`.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        switches: &[&str],
    ) -> Result<Args, String> {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument `{arg}` (flags start with --)"));
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None if switches.contains(&flag) => (flag.to_owned(), "true".to_owned()),
                None => {
                    let value = args
                        .next()
                        .ok_or_else(|| format!("--{flag} needs a value"))?;
                    (flag.to_owned(), value)
                }
            };
            values.entry(name).or_default().push(value);
        }
        Ok(Args { values })
    }

    /// The last value of `--name`, if given.
    pub fn opt_str(&mut self, name: &str) -> Option<String> {
        self.values.remove(name).and_then(|mut v| v.pop())
    }

    /// The last value of `--name`, or `default`.
    pub fn str(&mut self, name: &str, default: &str) -> String {
        self.opt_str(name).unwrap_or_else(|| default.to_owned())
    }

    /// Every value of a repeatable `--name`, in order.
    pub fn all(&mut self, name: &str) -> Vec<String> {
        self.values.remove(name).unwrap_or_default()
    }

    /// `--name` parsed as `T`, if given.
    pub fn opt<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        self.opt_str(name)
            .map(|text| {
                text.replace('_', "")
                    .parse()
                    .map_err(|_| format!("--{name}: cannot read `{text}`"))
            })
            .transpose()
    }

    /// `--name` parsed as `T`, or `default`.
    pub fn get<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        Ok(self.opt(name)?.unwrap_or(default))
    }

    /// A switch: present (or `--name=true`) or not.
    pub fn flag(&mut self, name: &str) -> Result<bool, String> {
        self.get(name, false)
    }

    /// `--name` in seconds (fractions allowed), or `default` seconds.
    pub fn secs(&mut self, name: &str, default: f64) -> Result<Duration, String> {
        let secs: f64 = self.get(name, default)?;
        Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("--{name}: `{secs}` is not a duration"))
    }

    /// Fails on any flag nobody read.
    pub fn finish(self) -> Result<(), String> {
        match self.values.keys().next() {
            None => Ok(()),
            Some(name) => Err(format!("unknown flag --{name}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Args;

    fn args(list: &[&str]) -> Args {
        Args::parse(list.iter().map(|s| (*s).to_owned()), &["json"]).expect("parses")
    }

    #[test]
    fn values_switches_and_leftovers() {
        let mut a = args(&[
            "--subscribers",
            "100",
            "--rate=1_000",
            "--json",
            "--header",
            "a:1",
            "--header",
            "b:2",
            "--duration",
            "1.5",
        ]);
        assert_eq!(a.get("subscribers", 1usize), Ok(100));
        assert_eq!(a.get("rate", 0.0f64), Ok(1000.0));
        assert_eq!(a.flag("json"), Ok(true));
        assert_eq!(a.all("header"), ["a:1", "b:2"]);
        assert_eq!(a.secs("duration", 10.0).map(|d| d.as_millis()), Ok(1500));
        assert_eq!(a.get("publishers", 1usize), Ok(1));
        assert!(a.finish().is_ok());
        let mut b = args(&["--rate", "fast", "--typo", "1"]);
        assert!(b.get("rate", 0.0f64).is_err());
        assert_eq!(b.finish(), Err("unknown flag --typo".to_owned()));
        assert!(Args::parse(["--rate".to_owned()], &[]).is_err());
        assert!(Args::parse(["rate".to_owned()], &[]).is_err());
    }
}

//! The process's open-file limit: raised at start from its soft value to
//! its hard one (a server holds one descriptor per connection, and the
//! usual soft default of 1,024 is far below what it can serve), and read
//! back so the connection ceiling stays below it.
//!
//! Only the process's own limit is touched, once, before anything is
//! accepted; nothing here decides admission (see `limits`).

/// The open-file limit as found and as left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoFile {
    /// The soft limit found at start (`None`: unlimited).
    pub was: Option<u64>,
    /// The soft limit in force now (`None`: unlimited).
    pub soft: Option<u64>,
    /// The hard limit (`None`: unlimited).
    pub hard: Option<u64>,
    /// Why the soft limit could not be raised, if it could not.
    pub error: Option<String>,
}

impl NoFile {
    /// One line for the log: what the server got.
    pub fn describe(&self) -> String {
        let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
        let mut s = if self.was == self.soft {
            format!(
                "open-file limit {} (hard limit {})",
                show(self.soft),
                show(self.hard)
            )
        } else {
            format!(
                "open-file limit raised from {} to {} (the hard limit)",
                show(self.was),
                show(self.soft)
            )
        };
        if let Some(e) = &self.error {
            s.push_str(&format!("; could not raise it: {e}"));
        }
        s
    }
}

/// Raises the soft open-file limit to the hard limit, and says what it got.
#[cfg(unix)]
pub fn raise() -> NoFile {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    let mut error = None;
    if before.current != before.maximum {
        // An unlimited hard limit cannot be the soft one on every system
        // (macOS refuses it): keep the soft limit then.
        if before.maximum.is_some() {
            let wanted = Rlimit {
                current: before.maximum,
                maximum: before.maximum,
            };
            if let Err(e) = setrlimit(Resource::Nofile, wanted) {
                error = Some(e.to_string());
            }
        }
    }
    let now = getrlimit(Resource::Nofile);
    NoFile {
        was: before.current,
        soft: now.current,
        hard: now.maximum,
        error,
    }
}

#[cfg(not(unix))]
pub fn raise() -> NoFile {
    NoFile {
        was: None,
        soft: None,
        hard: None,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_what_it_got() {
        let raised = NoFile {
            was: Some(1024),
            soft: Some(524288),
            hard: Some(524288),
            error: None,
        };
        assert_eq!(
            raised.describe(),
            "open-file limit raised from 1024 to 524288 (the hard limit)"
        );
        let kept = NoFile {
            was: Some(1024),
            soft: Some(1024),
            hard: Some(1024),
            error: None,
        };
        assert_eq!(kept.describe(), "open-file limit 1024 (hard limit 1024)");
    }

    #[cfg(unix)]
    #[test]
    fn raise_leaves_the_soft_limit_at_the_hard_one() {
        let got = raise();
        if got.error.is_none() && got.hard.is_some() {
            assert_eq!(got.soft, got.hard);
        }
        assert_eq!(
            got.soft,
            rustix::process::getrlimit(rustix::process::Resource::Nofile).current
        );
    }
}

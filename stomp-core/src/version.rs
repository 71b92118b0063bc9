//! STOMP protocol versions and their negotiation.

use std::fmt;

/// A STOMP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// STOMP 1.0: no header escaping, no `NACK`, no heart-beats.
    V1_0,
    /// STOMP 1.1: escaping of `\n`, `\c` and `\\`; heart-beats; `NACK`.
    V1_1,
    /// STOMP 1.2: adds the `\r` escape, `\r\n` line ends and `ack` ids.
    V1_2,
}

impl Version {
    /// Every supported version, oldest first.
    pub const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    /// The version as written in `accept-version` and `version` headers (`"1.2"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// The WebSocket sub-protocol name for this version (`"v12.stomp"`).
    pub const fn subprotocol(self) -> &'static str {
        match self {
            Version::V1_0 => "v10.stomp",
            Version::V1_1 => "v11.stomp",
            Version::V1_2 => "v12.stomp",
        }
    }

    /// Parses `"1.0"`, `"1.1"` or `"1.2"`.
    pub fn parse(text: &str) -> Option<Version> {
        match text.trim() {
            "1.0" => Some(Version::V1_0),
            "1.1" => Some(Version::V1_1),
            "1.2" => Some(Version::V1_2),
            _ => None,
        }
    }

    /// Parses a WebSocket sub-protocol name such as `"v12.stomp"`.
    pub fn from_subprotocol(name: &str) -> Option<Version> {
        Version::ALL
            .into_iter()
            .find(|v| v.subprotocol().eq_ignore_ascii_case(name.trim()))
    }

    /// Picks the highest version listed in a client's `accept-version` header.
    ///
    /// An absent header means 1.0, as the specification says. Returns `None` when the client
    /// lists no version this implementation speaks; the server must then answer with an
    /// `ERROR` frame that names the supported versions.
    pub fn negotiate(accept_version: Option<&str>) -> Option<Version> {
        match accept_version {
            None => Some(Version::V1_0),
            Some(list) => list.split(',').filter_map(Version::parse).max(),
        }
    }

    /// The comma-separated list of every supported version, for `ERROR` frames and clients.
    pub const fn supported_list() -> &'static str {
        "1.0,1.1,1.2"
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        assert_eq!(Version::negotiate(None), Some(Version::V1_0));
        assert_eq!(Version::negotiate(Some("1.0,1.1,1.2")), Some(Version::V1_2));
        assert_eq!(Version::negotiate(Some("1.1,1.0")), Some(Version::V1_1));
        assert_eq!(Version::negotiate(Some("1.1, 2.0")), Some(Version::V1_1));
        assert_eq!(Version::negotiate(Some("2.0")), None);
    }

    #[test]
    fn subprotocols_map_to_versions() {
        assert_eq!(Version::from_subprotocol("v12.stomp"), Some(Version::V1_2));
        assert_eq!(Version::from_subprotocol("v10.stomp"), Some(Version::V1_0));
        assert_eq!(Version::from_subprotocol("mqtt"), None);
    }
}

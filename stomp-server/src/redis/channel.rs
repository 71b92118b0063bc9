//! Redis channel names: a destination `/topic/a` is the channel `<prefix>/topic/a`; a
//! subscription pattern becomes a Redis glob for `PSUBSCRIBE`.
//!
//! Our `*` (one segment) and `**` (any number) both become Redis' `*`, which matches any
//! characters, separators included: the glob may match more channels than the pattern, never
//! fewer, and [`LocalBroker::deliver_to`](crate::broker::LocalBroker::deliver_to) checks each
//! message against the pattern itself. Redis' other glob characters (`?`, `[`, `]`, `\`) are
//! escaped, so in a destination they are plain characters.
//!
//! A user destination has a channel per user: `<prefix>user:<user>:<destination>`, the
//! user escaped (`%` and `:` as `%25`, `%3A`) so that the name splits one way only. No
//! client reaches it: every destination a client may name starts with a broker prefix
//! (`/topic`), so neither a channel nor a glob made from one starts with `<prefix>user:`.

/// What the backplane listens to in Redis for one destination or pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Listen {
    /// `SUBSCRIBE` to this channel.
    Channel(String),
    /// `PSUBSCRIBE` to this glob.
    Pattern(String),
}

impl Listen {
    /// What to listen to for `destination` (a pattern when it has a `*`).
    pub(crate) fn of(prefix: &str, destination: &str) -> Listen {
        if !destination.contains('*') {
            return Listen::Channel(channel(prefix, destination));
        }
        let mut glob = String::with_capacity(prefix.len() + destination.len() + 4);
        escape_into(&mut glob, prefix);
        let mut previous_star = false;
        for c in destination.chars() {
            if c == '*' {
                if !previous_star {
                    glob.push('*');
                }
            } else {
                escape_char(&mut glob, c);
            }
            previous_star = c == '*';
        }
        Listen::Pattern(glob)
    }
}

/// The channel a message to `destination` is published on.
pub(crate) fn channel(prefix: &str, destination: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + destination.len());
    name.push_str(prefix);
    name.push_str(destination);
    name
}

/// The channel of `user`'s user destination `destination` (`/queue/x`).
pub(crate) fn user_channel(prefix: &str, user: &str, destination: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + user.len() + destination.len() + 6);
    name.push_str(prefix);
    name.push_str("user:");
    for c in user.chars() {
        match c {
            '%' => name.push_str("%25"),
            ':' => name.push_str("%3A"),
            c => name.push(c),
        }
    }
    name.push(':');
    name.push_str(destination);
    name
}

fn escape_into(glob: &mut String, literal: &str) {
    for c in literal.chars() {
        escape_char(glob, c);
    }
}

fn escape_char(glob: &mut String, c: char) {
    if matches!(c, '*' | '?' | '[' | ']' | '\\') {
        glob.push('\\');
    }
    glob.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_is_a_channel_under_the_prefix() {
        assert_eq!(
            Listen::of("stomp:", "/topic/a.b?"),
            Listen::Channel("stomp:/topic/a.b?".to_owned())
        );
        assert_eq!(channel("stomp:", "/topic/x"), "stomp:/topic/x");
    }

    #[test]
    fn a_user_channel_escapes_the_user_so_it_splits_one_way() {
        assert_eq!(
            user_channel("stomp:", "bob", "/queue/x"),
            "stomp:user:bob:/queue/x"
        );
        assert_eq!(
            user_channel("stomp:", "a:b%", "/queue/x"),
            "stomp:user:a%3Ab%25:/queue/x"
        );
        assert_ne!(
            user_channel("p:", "a:/queue/b", "/queue/c"),
            user_channel("p:", "a", "/queue/b:/queue/c")
        );
    }

    #[test]
    fn a_pattern_is_a_glob_with_its_literal_parts_escaped() {
        assert_eq!(
            Listen::of("s[1]:", "/topic/*/x?/**"),
            Listen::Pattern("s\\[1\\]:/topic/*/x\\?/*".to_owned())
        );
        assert_eq!(
            Listen::of("p:", "/topic/**"),
            Listen::Pattern("p:/topic/*".to_owned())
        );
    }
}

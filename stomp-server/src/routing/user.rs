//! User destinations (Spring's `UserDestinationResolver`): a session that subscribes to
//! `/user/queue/reply` is subscribed in the broker to `/queue/reply-user{session id}`, and a
//! message for `/user/{name}/queue/reply` goes to that name for each of the user's sessions.

use crate::principal::SessionId;

/// The broker destination of a user destination for one session:
/// `/queue/reply` + `-user` + session id.
pub(crate) fn session_destination(destination: &str, session: &SessionId) -> String {
    let mut out = String::with_capacity(destination.len() + 5 + session.as_str().len());
    out.push_str(destination);
    out.push_str("-user");
    out.push_str(session.as_str());
    out
}

/// True for the broker name of a session's user destination (`/queue/x-user{session id}`,
/// session ids being `s{random hex}-{instance hex}`), which clients may not name themselves:
/// only the server translates `/user/..` destinations into them.
pub(crate) fn is_session_destination(destination: &str) -> bool {
    let Some(at) = destination.rfind("-user") else {
        return false;
    };
    let id = &destination[at + "-user".len()..];
    let Some(rest) = id.strip_prefix('s') else {
        return false;
    };
    let Some((random, instance)) = rest.split_once('-') else {
        return false;
    };
    !random.is_empty()
        && random.bytes().all(|b| b.is_ascii_hexdigit())
        && !instance.is_empty()
        && instance.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `ERROR` text for a client that names a session destination itself.
pub(crate) fn reserved_destination(destination: &str) -> String {
    format!(
        "destination `{destination}` belongs to another session's user destination; subscribe to `/user/..` instead"
    )
}

/// The user a subscription's destination under the user prefix names, and what follows it:
/// `/bob/queue/x` → (`bob`, `/queue/x`). Whether it names a user at all (rather than being
/// `/queue/x` with more segments) is the routing's call: it does when the broker handles
/// what follows and not the whole.
pub(crate) fn named_user(own: &str) -> Option<(&str, &str)> {
    let after = own.strip_prefix('/')?;
    let slash = after.find('/')?;
    let (user, tail) = after.split_at(slash);
    (!user.is_empty() && tail.len() > 1).then_some((user, tail))
}

/// The `ERROR` text for a `SUBSCRIBE` to another user's destination.
pub(crate) fn others_user_destination(destination: &str, user_prefix: &str, own: &str) -> String {
    let prefix = user_prefix.trim_end_matches('/');
    format!(
        "destination `{destination}` is another user's: a session subscribes only to its own user destinations (`{prefix}{own}`)"
    )
}

/// A destination under the user prefix, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UserDestination<'a> {
    /// `/user/queue/x`: the current session's own (subscriptions).
    Own(&'a str),
    /// `/user/{name}/queue/x`: for a named user (sends).
    ForUser {
        /// The user's name.
        user: &'a str,
        /// The destination after it (`/queue/x`).
        destination: &'a str,
    },
}

/// Parses `destination` when it starts with `user_prefix` (`/user`).
pub(crate) fn parse_user_destination<'a>(
    destination: &'a str,
    user_prefix: &str,
    for_send: bool,
) -> Option<UserDestination<'a>> {
    let prefix = user_prefix.trim_end_matches('/');
    let rest = destination.strip_prefix(prefix)?;
    if !rest.starts_with('/') || rest.len() < 2 {
        return None;
    }
    if !for_send {
        return Some(UserDestination::Own(rest));
    }
    let after = &rest[1..];
    let slash = after.find('/')?;
    let (user, tail) = after.split_at(slash);
    if user.is_empty() || tail.len() < 2 {
        return None;
    }
    Some(UserDestination::ForUser {
        user,
        destination: tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_destinations_parse_as_spring_does() {
        assert_eq!(
            parse_user_destination("/user/queue/x", "/user", false),
            Some(UserDestination::Own("/queue/x"))
        );
        assert_eq!(
            parse_user_destination("/user/bob/queue/x", "/user/", true),
            Some(UserDestination::ForUser {
                user: "bob",
                destination: "/queue/x"
            })
        );
        assert_eq!(parse_user_destination("/user/bob", "/user", true), None);
        assert_eq!(parse_user_destination("/users/x", "/user", false), None);
        assert_eq!(parse_user_destination("/topic/x", "/user", true), None);
        assert_eq!(named_user("/bob/queue/x"), Some(("bob", "/queue/x")));
        assert_eq!(named_user("/queue/x"), Some(("queue", "/x")));
        assert_eq!(named_user("/bob"), None);
        assert_eq!(named_user("//queue/x"), None);
        assert_eq!(named_user("/bob/"), None);
        assert_eq!(
            session_destination("/queue/x", &SessionId::new("s1")),
            "/queue/x-users1"
        );
    }
}

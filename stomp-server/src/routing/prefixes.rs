//! [`Prefixes`]: the application and user destination prefixes (the broker's own prefixes
//! live with the broker, which answers [`Broker::handles`](crate::broker::Broker::handles)).

use crate::config::ClientUserSends;

/// The destination prefixes the server was configured with.
#[derive(Debug, Clone)]
pub(crate) struct Prefixes {
    /// Application prefixes (`/app`): destinations handled by `#[message_mapping]`s.
    pub(crate) application: Vec<String>,
    /// The user prefix (`/user`).
    pub(crate) user: String,
    /// Whether clients may `SEND` to user destinations.
    pub(crate) client_user_sends: ClientUserSends,
}

impl Prefixes {
    /// The application prefix `destination` starts with, as the number of bytes to strip so
    /// that the lookup destination keeps its leading separator (`/app/x` → `/x`).
    pub(crate) fn application_lookup_offset(&self, destination: &str) -> Option<usize> {
        self.application.iter().find_map(|prefix| {
            let trimmed = prefix.trim_end_matches(['/', '.']);
            let rest = destination.strip_prefix(trimmed)?;
            if rest.starts_with(['/', '.']) {
                Some(trimmed.len())
            } else {
                None
            }
        })
    }

    /// True when `destination` is under the user prefix.
    pub(crate) fn is_user_destination(&self, destination: &str) -> bool {
        super::user::parse_user_destination(destination, &self.user, false).is_some()
    }

    /// The `ERROR` text when a client may not `SEND` to `destination`, a user destination
    /// ([`ClientUserSends::Deny`]); `None` for every other destination.
    pub(crate) fn refuse_client_send(&self, destination: &str) -> Option<String> {
        if !self.is_user_destination(destination) {
            return None;
        }
        match self.client_user_sends {
            ClientUserSends::Allow => None,
            ClientUserSends::Deny => Some(format!(
                "clients may not send to user destinations (`{destination}`): messages for users come from the server"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(policy: ClientUserSends) -> Prefixes {
        Prefixes {
            application: vec!["/app".to_owned(), "/rpc.".to_owned()],
            user: "/user/".to_owned(),
            client_user_sends: policy,
        }
    }

    #[test]
    fn application_prefixes_keep_the_lookup_separator() {
        let p = prefixes(ClientUserSends::Deny);
        assert_eq!(p.application_lookup_offset("/app/chat"), Some(4));
        assert_eq!(p.application_lookup_offset("/rpc.add"), Some(4));
        assert_eq!(p.application_lookup_offset("/apps/chat"), None);
        assert_eq!(p.application_lookup_offset("/topic/chat"), None);
    }

    #[test]
    fn deny_is_the_default_and_names_the_destination() {
        let text = prefixes(ClientUserSends::default())
            .refuse_client_send("/user/bob/queue/x")
            .expect("refused");
        assert!(text.contains("/user/bob/queue/x"));
        let allow = prefixes(ClientUserSends::Allow);
        assert!(allow.refuse_client_send("/user/bob/queue/x").is_none());
        assert!(allow.is_user_destination("/user/bob/queue/x"));
        assert!(allow.is_user_destination("/user/queue/x"));
        assert!(!allow.is_user_destination("/users/x"));
        assert!(prefixes(ClientUserSends::Deny)
            .refuse_client_send("/topic/x")
            .is_none());
    }
}

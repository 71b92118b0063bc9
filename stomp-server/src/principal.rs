//! Who a session belongs to: [`Principal`] and [`SessionId`].

use std::fmt;
use std::sync::Arc;

/// The authenticated user of a session (Spring's `java.security.Principal`).
///
/// Set by an inbound interceptor on `CONNECT` (for example from a `login` header or a bearer
/// token). User destinations (`/user/{name}/queue/..`) and `#[send_to_user]` address users by
/// this name. Cloning is a reference count.
///
/// It may carry granted authorities (Spring's `GrantedAuthority`s), which
/// [authorization rules](crate::authorization) check: `ROLE_ADMIN` for the role `ADMIN`,
/// `message:write` for a plain authority. Two principals are equal when their names and
/// authorities are.
///
/// ```
/// use stomp_server::Principal;
///
/// let ann = Principal::new("ann").with_roles(["ADMIN"]).with_authorities(["message:write"]);
/// assert_eq!(ann.name(), "ann");
/// assert!(ann.has_role("ADMIN") && ann.has_authority("ROLE_ADMIN"));
/// assert!(ann.has_authority("message:write") && !ann.has_role("USER"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    name: Arc<str>,
    /// Granted authorities; `None` when there are none (no allocation for them).
    authorities: Option<Arc<[Box<str>]>>,
}

impl Principal {
    /// A principal with this name.
    pub fn new(name: impl Into<Arc<str>>) -> Principal {
        Principal {
            name: name.into(),
            authorities: None,
        }
    }

    /// This principal granted these authorities as well (Spring's `GrantedAuthority`):
    /// `Principal::new("ann").with_authorities(["ROLE_ADMIN", "message:write"])`. A role
    /// is an authority named `ROLE_` + the role, as in Spring Security.
    #[must_use]
    pub fn with_authorities<I, A>(self, authorities: I) -> Principal
    where
        I: IntoIterator<Item = A>,
        A: AsRef<str>,
    {
        let mut all: Vec<Box<str>> = self.authorities().map(Box::from).collect();
        for authority in authorities {
            let authority = authority.as_ref();
            if !all.iter().any(|a| &**a == authority) {
                all.push(authority.into());
            }
        }
        Principal {
            name: self.name,
            authorities: (!all.is_empty()).then(|| Arc::from(all)),
        }
    }

    /// This principal in these roles as well: each is granted as the authority `ROLE_` +
    /// the role (Spring's `User.roles(..)`); a role already written `ROLE_X` is kept as is.
    #[must_use]
    pub fn with_roles<I, A>(self, roles: I) -> Principal
    where
        I: IntoIterator<Item = A>,
        A: AsRef<str>,
    {
        let authorities: Vec<String> = roles
            .into_iter()
            .map(|role| {
                let role = role.as_ref();
                if role.starts_with(ROLE_PREFIX) {
                    role.to_owned()
                } else {
                    format!("{ROLE_PREFIX}{role}")
                }
            })
            .collect();
        self.with_authorities(authorities)
    }

    /// The granted authorities, in the order they were given.
    pub fn authorities(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.authorities
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|a| &**a)
    }

    /// True when `authority` was granted (exact, case-sensitive).
    pub fn has_authority(&self, authority: &str) -> bool {
        self.authorities().any(|a| a == authority)
    }

    /// True when the role was granted: the authority `ROLE_` + `role`, compared without
    /// building that name.
    pub fn has_role(&self, role: &str) -> bool {
        self.authorities()
            .any(|a| a.strip_prefix(ROLE_PREFIX) == Some(role))
    }

    /// The user name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What a role's authority starts with (Spring Security's default role prefix).
pub(crate) const ROLE_PREFIX: &str = "ROLE_";

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.authorities.is_none() {
            return write!(f, "Principal({:?})", &*self.name);
        }
        write!(f, "Principal({:?}, ", &*self.name)?;
        f.debug_list().entries(self.authorities()).finish()?;
        f.write_str(")")
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The server-assigned id of a STOMP session (Spring's `simpSessionId`), sent to the client
/// in the `session` header of `CONNECTED`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Arc<str>);

impl SessionId {
    /// A session id from text.
    pub fn new(id: impl Into<Arc<str>>) -> SessionId {
        SessionId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", &*self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_and_roles_are_granted_once_each() {
        let ann = Principal::new("ann")
            .with_roles(["ADMIN", "ROLE_USER"])
            .with_authorities(["message:write", "ROLE_ADMIN"]);
        assert_eq!(
            ann.authorities().collect::<Vec<_>>(),
            ["ROLE_ADMIN", "ROLE_USER", "message:write"]
        );
        assert!(ann.has_role("ADMIN") && ann.has_role("USER"));
        assert!(!ann.has_role("ROLE_ADMIN") && !ann.has_role("admin"));
        assert!(ann.has_authority("message:write") && !ann.has_authority("message"));
        assert_eq!(
            format!("{ann:?}"),
            r#"Principal("ann", ["ROLE_ADMIN", "ROLE_USER", "message:write"])"#
        );
        let plain = Principal::new("bob");
        assert_eq!(plain.authorities().len(), 0);
        assert_eq!(format!("{plain:?}"), r#"Principal("bob")"#);
        assert_eq!(plain.clone().with_authorities([] as [&str; 0]), plain);
        assert_ne!(
            Principal::new("ann"),
            ann,
            "authorities take part in equality"
        );
    }
}

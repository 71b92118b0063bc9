//! Matching, order, outcomes and defaults of the rules, without a server.

use stomp_core::{Command, Frame};

use super::*;
use crate::attributes::SessionAttributes;
use crate::principal::{Principal, SessionId};

/// The decision for `command` to `destination` by `principal`: `Ok` or the `ERROR` text.
fn decide(
    rules: &MessageSecurity,
    command: Command,
    destination: Option<&str>,
    principal: Option<&Principal>,
) -> Result<(), String> {
    let mut frame = Frame::new(command);
    if let Some(destination) = destination {
        frame.headers.append("destination", destination);
    }
    let (id, attributes) = (SessionId::new("s1"), SessionAttributes::new());
    rules
        .check(&AuthorizationContext::new(
            &frame,
            principal,
            &id,
            &attributes,
        ))
        .map_err(|denied| denied.to_string())
}

#[test]
fn the_first_matching_rule_decides_and_the_error_names_it() {
    let rules = MessageSecurity::builder()
        .send_dest_matchers(["/topic/open/**"])
        .permit_all()
        .type_matchers([MessageType::Connect])
        .permit_all()
        .send_dest_matchers(["/topic/**"])
        .deny_all()
        .any_message()
        .permit_all()
        .build()
        .unwrap();
    assert_eq!(rules.len(), 4);
    assert_eq!(
        decide(&rules, Command::Send, Some("/topic/open/a"), None),
        Ok(())
    );
    assert_eq!(
        decide(&rules, Command::Send, Some("/topic/a"), None),
        Err("access denied by rule #3 (SEND /topic/**: deny)".to_owned())
    );
    assert_eq!(
        decide(&rules, Command::Subscribe, Some("/topic/a"), None),
        Ok(())
    );
    assert_eq!(decide(&rules, Command::Send, Some("/topics"), None), Ok(()));
    assert_eq!(
        decide(&rules, Command::Send, Some("/topic"), None).map_err(|_| ()),
        Err(())
    );
}

#[test]
fn unmatched_frames_are_denied_unless_permitted() {
    let only_connect = || {
        MessageSecurity::builder()
            .type_matchers([MessageType::Connect])
            .permit_all()
    };
    let deny = only_connect().build().unwrap();
    assert_eq!(decide(&deny, Command::Stomp, None, None), Ok(()));
    assert_eq!(
        decide(&deny, Command::Send, Some("/x"), None),
        Err("access denied: no rule matches SEND /x and unmatched messages are denied".to_owned())
    );
    assert_eq!(
        decide(&deny, Command::Disconnect, None, None),
        Err("access denied: no rule matches DISCONNECT (no destination) and unmatched messages are denied".to_owned())
    );
    let permit = only_connect().permit_unmatched().build().unwrap();
    assert_eq!(decide(&permit, Command::Send, Some("/x"), None), Ok(()));
    let again = only_connect()
        .permit_unmatched()
        .deny_unmatched()
        .build()
        .unwrap();
    assert!(decide(&again, Command::Send, Some("/x"), None).is_err());
    let empty = MessageSecurity::builder()
        .permit_unmatched()
        .build()
        .unwrap();
    assert!(empty.is_empty());
    assert_eq!(decide(&empty, Command::Ack, None, None), Ok(()));
}

#[test]
fn types_group_commands_as_documented() {
    let rules = MessageSecurity::builder()
        .type_matchers([MessageType::Ack, MessageType::Transaction])
        .deny_all()
        .permit_unmatched()
        .build()
        .unwrap();
    for command in [
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
    ] {
        assert_eq!(
            decide(&rules, command, None, None),
            Err("access denied by rule #1 (ACK/NACK|BEGIN/COMMIT/ABORT: deny)".to_owned()),
            "{command}"
        );
    }
    for command in [
        Command::Connect,
        Command::Send,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Disconnect,
    ] {
        assert_eq!(
            decide(&rules, command, Some("/q"), None),
            Ok(()),
            "{command}"
        );
    }
    assert_eq!(MessageType::of(Command::Message), MessageType::Other);
    assert_eq!(MessageType::of(Command::Stomp), MessageType::Connect);
}

#[test]
fn destinations_match_patterns_null_or_anything() {
    let rules = MessageSecurity::builder()
        .null_dest_matcher()
        .authenticated()
        .dest_matchers(["/app/rooms/<room>/**", "/topic/*"])
        .permit_all()
        .matchers([MessageType::Subscribe, MessageType::Send], ["/queue/**"])
        .deny_all()
        .build()
        .unwrap();
    let ann = Principal::new("ann");
    assert!(decide(&rules, Command::Connect, None, None)
        .unwrap_err()
        .contains("rule #1 (no destination: authenticated)"));
    assert_eq!(decide(&rules, Command::Connect, None, Some(&ann)), Ok(()));
    assert_eq!(
        decide(&rules, Command::Send, Some("/app/rooms/r1/post"), None),
        Ok(())
    );
    assert_eq!(
        decide(&rules, Command::Subscribe, Some("/topic/a"), None),
        Ok(())
    );
    assert!(decide(&rules, Command::Subscribe, Some("/topic/a/b"), None)
        .unwrap_err()
        .contains("no rule matches"));
    assert_eq!(
        decide(&rules, Command::Subscribe, Some("/queue/a"), Some(&ann)),
        Err("access denied by rule #3 (SEND|SUBSCRIBE /queue/**: deny)".to_owned())
    );
    assert!(
        decide(&rules, Command::Send, Some("/app/rooms"), None).is_err(),
        "<room> needs a segment"
    );
}

#[test]
fn roles_authorities_and_custom_tests() {
    let rules = MessageSecurity::builder()
        .dest_matchers(["/app/admin/**"])
        .has_role("ADMIN")
        .dest_matchers(["/app/staff/**"])
        .has_any_role(["ADMIN", "STAFF"])
        .dest_matchers(["/app/write/**"])
        .has_authority("message:write")
        .dest_matchers(["/app/any/**"])
        .has_any_authority(["a", "b"])
        .dest_matchers(["/app/own/<name>"])
        .access("its own name", |c| {
            c.principal
                .is_some_and(|p| c.destination == Some(&*format!("/app/own/{}", p.name())))
        })
        .build()
        .unwrap();
    let admin = Principal::new("ann").with_roles(["ADMIN"]);
    let staff = Principal::new("sam")
        .with_roles(["STAFF"])
        .with_authorities(["b"]);
    let writer = Principal::new("wes").with_authorities(["message:write"]);
    let send = |to: &str, who: Option<&Principal>| decide(&rules, Command::Send, Some(to), who);
    assert_eq!(send("/app/admin/x", Some(&admin)), Ok(()));
    assert_eq!(
        send("/app/admin/x", Some(&staff)),
        Err("access denied by rule #1 (/app/admin/**: has role ADMIN)".to_owned())
    );
    assert!(send("/app/admin/x", None).is_err());
    assert_eq!(send("/app/staff/x", Some(&staff)), Ok(()));
    assert_eq!(send("/app/staff/x", Some(&admin)), Ok(()));
    assert!(send("/app/staff/x", Some(&writer))
        .unwrap_err()
        .contains("has any role ADMIN, STAFF"));
    assert_eq!(send("/app/write/x", Some(&writer)), Ok(()));
    assert!(send("/app/write/x", Some(&admin))
        .unwrap_err()
        .contains("has authority message:write"));
    assert_eq!(send("/app/any/x", Some(&staff)), Ok(()));
    assert!(send("/app/any/x", Some(&writer))
        .unwrap_err()
        .contains("has any authority a, b"));
    assert_eq!(send("/app/own/wes", Some(&writer)), Ok(()));
    assert_eq!(
        send("/app/own/ann", Some(&writer)),
        Err("access denied by rule #5 (/app/own/<name>: access its own name)".to_owned())
    );
}

#[test]
fn the_dot_separator_matches_as_mappings_do() {
    let rules = MessageSecurity::builder()
        .path_separator('.')
        .send_dest_matchers(["/topic/chat.*"])
        .deny_all()
        .permit_unmatched()
        .build()
        .unwrap();
    assert_eq!(rules.separator(), '.');
    assert!(decide(&rules, Command::Send, Some("/topic/chat.r1"), None).is_err());
    assert_eq!(
        decide(&rules, Command::Send, Some("/topic/chat.r1.x"), None),
        Ok(())
    );
    assert_eq!(
        decide(&rules, Command::Send, Some("/topic/news.r1"), None),
        Ok(())
    );
}

#[test]
fn mistakes_are_named_with_their_rule() {
    let error = MessageSecurity::builder()
        .any_message()
        .permit_all()
        .dest_matchers(["/a/**/b"])
        .deny_all()
        .build()
        .unwrap_err();
    assert!(
        matches!(error, SecurityConfigError::Pattern { rule: 2, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("`/a/**/b`"), "{error}");
    let error = MessageSecurity::builder()
        .dest_matchers(Vec::<String>::new())
        .deny_all()
        .build()
        .unwrap_err();
    assert_eq!(error, SecurityConfigError::Empty(1));
    let error = MessageSecurity::builder()
        .type_matchers([])
        .deny_all()
        .build()
        .unwrap_err();
    assert_eq!(error, SecurityConfigError::Empty(1));
    let error = MessageSecurity::builder()
        .any_message()
        .has_any_role([])
        .build()
        .unwrap_err();
    assert_eq!(error, SecurityConfigError::Empty(1));
    let error = MessageSecurity::builder()
        .any_message()
        .has_role("ROLE_ADMIN")
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "authorization rule #1: role `ROLE_ADMIN` should not start with `ROLE_`; write has_role(\"ADMIN\") or has_authority(\"ROLE_ADMIN\")"
    );
}

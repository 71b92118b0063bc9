// `#[send_to]` and `#[send_to_user]` above or below the mapping, in every form.
use stomp_server::__private::{inventory, HandlerDescriptor, UserTarget};
use stomp_server::{message_mapping, send_to, send_to_user, subscribe_mapping};

#[message_mapping("/below/<room>")]
#[send_to("/topic/a/<room>", "/topic/b")]
fn below(room: String) -> String {
    room
}

#[send_to("/topic/above/{room}")]
#[message_mapping("/above/<room>")]
fn above(room: String) -> String {
    room
}

#[send_to_user]
#[send_to("/topic/both")]
#[message_mapping("/both")]
fn both() -> String {
    String::new()
}

#[message_mapping("/user/default")]
#[send_to_user]
fn user_default() -> String {
    String::new()
}

#[message_mapping("/user/reply/<room>")]
#[send_to_user("/queue/reply/<room>", broadcast = false)]
fn user_reply(room: String) -> String {
    room
}

#[send_to_user(broadcast = false)]
#[stomp_server::subscribe_mapping("/user/single")]
fn user_single() -> String {
    String::new()
}

#[subscribe_mapping("/user/many")]
#[stomp_server::send_to_user("/queue/a", "/queue/b", broadcast = true)]
fn user_many() -> String {
    String::new()
}

fn main() {
    let routing = |function: &str| {
        inventory::iter::<HandlerDescriptor>()
            .find(|d| d.location.function == function)
            .unwrap()
            .routing
    };
    assert_eq!(routing("below").send_to, ["/topic/a/<room>", "/topic/b"]);
    assert_eq!(routing("below").send_to_user, None);
    assert_eq!(routing("above").send_to, ["/topic/above/{room}"]);
    assert_eq!(routing("both").send_to, ["/topic/both"]);
    let user = |destinations: &'static [&'static str], broadcast| {
        Some(UserTarget {
            destinations,
            broadcast,
        })
    };
    assert_eq!(routing("both").send_to_user, user(&[], true));
    assert_eq!(routing("user_default").send_to_user, user(&[], true));
    assert_eq!(
        routing("user_reply").send_to_user,
        user(&["/queue/reply/<room>"], false)
    );
    assert!(routing("user_reply").send_to.is_empty());
    assert_eq!(routing("user_single").send_to_user, user(&[], false));
    assert_eq!(
        routing("user_many").send_to_user,
        user(&["/queue/a", "/queue/b"], true)
    );
}

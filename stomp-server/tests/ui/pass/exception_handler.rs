// Local and global exception handlers: the first parameter is the error, the others are
// extractors; `HandlerError` catches everything; routing attributes work as on handlers.
use stomp_server::__private::{inventory, ExceptionHandlerDescriptor};
use stomp_server::{message_exception_handler, send_to, send_to_user, HandlerError, Principal};

#[derive(Debug, thiserror::Error)]
#[error("room is full")]
pub struct RoomFull;

#[message_exception_handler]
fn on_room_full(error: RoomFull) -> String {
    error.to_string()
}

#[message_exception_handler(global)]
#[send_to_user("/queue/errors", broadcast = false)]
async fn on_any(error: HandlerError, user: Option<Principal>) -> String {
    format!("{error} {}", user.is_some())
}

#[send_to("/topic/errors/<room>")]
#[message_exception_handler]
fn on_io(_: std::io::Error, #[header("x-id")] id: Option<String>) -> Option<String> {
    id
}

fn main() {
    let find = |function: &str| {
        *inventory::iter::<ExceptionHandlerDescriptor>()
            .find(|d| d.location.function == function)
            .unwrap()
    };
    let room_full = find("on_room_full");
    assert!(!room_full.global);
    assert_eq!(room_full.specificity, 0);
    assert_eq!(room_full.error_type, "RoomFull");
    assert!((room_full.accepts)(&HandlerError::new(RoomFull)));
    assert!(!(room_full.accepts)(&HandlerError::new(std::fmt::Error)));

    let any = find("on_any");
    assert!(any.global);
    assert_eq!(any.specificity, 255);
    assert_eq!(any.error_type, "HandlerError");
    assert!((any.accepts)(&HandlerError::new(RoomFull)));
    assert_eq!(
        any.routing
            .send_to_user
            .map(|u| (u.destinations, u.broadcast)),
        Some((&["/queue/errors"][..], false))
    );

    let io = find("on_io");
    assert_eq!(io.error_type, "std::io::Error");
    assert_eq!(io.routing.send_to, ["/topic/errors/<room>"]);
}

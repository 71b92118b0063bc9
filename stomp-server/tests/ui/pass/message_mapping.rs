// Sync and async handlers, path variables of any `FromStr` type, extractors in any order,
// patterned parameters, Spring's `{var}` syntax, dotted patterns, wildcards.
use stomp_server::__private::{inventory, HandlerDescriptor, MappingKind};
use stomp_server::{message_mapping, HandlerError, Payload, Principal, State};

#[derive(serde::Deserialize)]
pub struct Post {
    pub text: String,
}

#[derive(serde::Serialize)]
pub struct ChatMessage {
    pub room: String,
    pub text: String,
}

pub struct Rooms;

#[derive(Debug, thiserror::Error)]
#[error("room is full")]
pub struct RoomFull;

#[message_mapping("/chat/<room>")]
async fn post(
    room: String,
    user: Principal,
    Payload(post): Payload<Post>,
    _rooms: State<Rooms>,
) -> Result<ChatMessage, RoomFull> {
    let _ = user.name();
    Ok(ChatMessage {
        room,
        text: post.text,
    })
}

#[message_mapping("/orders/{id}/cancel")]
fn cancel(mut id: u64, user: Option<Principal>) -> String {
    id += 1;
    format!("{id} {}", user.is_some())
}

#[message_mapping("/ping")]
fn ping() {}

#[message_mapping("/raw")]
fn raw(body: Result<Payload<String>, HandlerError>) -> Option<String> {
    body.ok().map(|Payload(text)| text)
}

#[message_mapping("game.<game>.move")]
async fn game_move(game: u32) -> u32 {
    game
}

#[message_mapping("/topic/*/any/**")]
fn wildcards() {}

#[message_mapping("/kind/<type>")]
fn r#type(r#type: String) -> String {
    r#type
}

fn main() {
    let mut found: Vec<(&str, &str)> = inventory::iter::<HandlerDescriptor>()
        .map(|d| {
            assert_eq!(d.kind, MappingKind::Message);
            assert!(d.routing.send_to.is_empty());
            assert!(d.routing.send_to_user.is_none());
            assert_eq!(d.location.module, module_path!());
            assert!(d.location.file.ends_with("message_mapping.rs"));
            (d.pattern, d.location.function)
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("/chat/<room>", "post"),
            ("/kind/<type>", "type"),
            ("/orders/{id}/cancel", "cancel"),
            ("/ping", "ping"),
            ("/raw", "raw"),
            ("/topic/*/any/**", "wildcards"),
            ("game.<game>.move", "game_move"),
        ]
    );
}

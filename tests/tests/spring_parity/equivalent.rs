//! Our equivalent of the Spring reference app (`tests/spring`): the same mappings, bodies and
//! errors, written with this framework's attributes.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use stomp_server::{
    message_exception_handler, message_mapping, send_to, send_to_user, subscribe_mapping, Payload,
    PayloadError, Principal, State, StompServer, StompServerBuilder,
};

const HISTORY: usize = 50;
const CONTENT_MAX: usize = 2000;

/// What a client sends to `/app/chat/{room}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Post {
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

/// What `/topic/chat/{room}` receives.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChatMessage {
    id: String,
    room: String,
    sender: String,
    content: String,
    timestamp: u64,
}

/// What `/user/queue/errors` receives.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorReply {
    error: String,
}

/// What the page sends to `/app/hello`.
#[derive(Debug, Deserialize)]
pub(crate) struct HelloMessage {
    name: String,
}

/// What `/topic/greetings` receives.
#[derive(Debug, Serialize)]
pub(crate) struct Greeting {
    content: String,
}

/// A message the chat refuses (the reference app's `ChatException`).
#[derive(Debug)]
pub(crate) struct ChatError(String);

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ChatError {}

/// The rooms' recent messages.
#[derive(Default)]
pub(crate) struct History {
    rooms: Mutex<HashMap<String, VecDeque<ChatMessage>>>,
    ids: AtomicU64,
}

fn check_room(room: &str) -> Result<(), ChatError> {
    let valid = (1..=32).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ChatError(format!(
            "invalid room name `{room}`: use 1 to 32 letters (A-Z, a-z), digits, `_` or `-`"
        )))
    }
}

#[message_mapping("/chat/{room}")]
#[send_to("/topic/chat/{room}")]
fn post(
    room: String,
    user: Option<Principal>,
    Payload(post): Payload<Post>,
    history: State<History>,
) -> Result<ChatMessage, ChatError> {
    check_room(&room)?;
    let content = post.content.unwrap_or_default();
    if content.trim().is_empty() {
        return Err(ChatError("the message is empty".to_owned()));
    }
    let chars = content.chars().count();
    if chars > CONTENT_MAX {
        return Err(ChatError(format!(
            "the message is too long: {chars} characters, at most {CONTENT_MAX} are allowed"
        )));
    }
    let sender = match (user, post.sender) {
        (Some(user), _) => user.name().to_owned(),
        (None, Some(sender)) if !sender.trim().is_empty() => sender,
        _ => {
            return Err(ChatError(
                "invalid sender: the message has no `sender`".to_owned(),
            ))
        }
    };
    let message = ChatMessage {
        id: format!("m{}", history.ids.fetch_add(1, Ordering::Relaxed) + 1),
        room: room.clone(),
        sender,
        content,
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    };
    let mut rooms = history.rooms.lock().unwrap_or_else(PoisonError::into_inner);
    let list = rooms.entry(room).or_default();
    list.push_back(message.clone());
    while list.len() > HISTORY {
        list.pop_front();
    }
    Ok(message)
}

#[subscribe_mapping("/chat/{room}/history")]
fn history(room: String, history: State<History>) -> Result<Vec<ChatMessage>, ChatError> {
    check_room(&room)?;
    let rooms = history.rooms.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(rooms
        .get(&room)
        .map(|list| list.iter().cloned().collect())
        .unwrap_or_default())
}

#[message_exception_handler]
#[send_to_user("/queue/errors", broadcast = false)]
fn on_chat_error(error: ChatError) -> ErrorReply {
    ErrorReply { error: error.0 }
}

#[message_exception_handler]
#[send_to_user("/queue/errors", broadcast = false)]
fn on_payload_error(error: PayloadError) -> ErrorReply {
    ErrorReply {
        error: error.to_string(),
    }
}

#[message_mapping("/hello")]
#[send_to("/topic/greetings")]
fn greeting(Payload(message): Payload<HelloMessage>) -> Greeting {
    Greeting {
        content: format!("Hello, {}!", html_escape(&message.name)),
    }
}

/// Spring's `HtmlUtils.htmlEscape` for the characters the guide's names use.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The reference app's configuration: `/ws`, `/app`, simple broker on `/topic` and
/// `/queue`, heart-beats `10000,10000`, the CONNECT `login` header as the principal.
pub(crate) fn builder() -> StompServerBuilder {
    StompServer::builder()
        .endpoint("/ws")
        .application_prefix("/app")
        .simple_broker(["/topic", "/queue"])
        .user_prefix("/user")
        .heartbeat(10_000, 10_000)
        .interceptor(tests::server_support::login_interceptor)
        .state(History::default())
}

// `#[message_mapping("/prefix")]` on an inline module prefixes every mapping inside,
// recursively; a nested module with its own prefix adds to it; dotted prefixes join with `.`.
use stomp_server::__private::{inventory, HandlerDescriptor, MappingKind};
use stomp_server::message_mapping;

#[message_mapping("/chat")]
mod chat {
    use stomp_server::{message_mapping, send_to, subscribe_mapping};

    #[message_mapping("/<room>")]
    #[send_to("/topic/chat/<room>")]
    pub fn post(room: String) -> String {
        room
    }

    #[subscribe_mapping("<room>/history")]
    pub fn history(room: String) -> Vec<String> {
        vec![room]
    }

    pub mod admin {
        use stomp_server::message_mapping;

        #[message_mapping("/<room>/kick/<user>")]
        pub fn kick(room: String, user: String) -> String {
            format!("{room} {user}")
        }
    }

    #[message_mapping("/typing")]
    pub mod typing {
        use stomp_server::message_mapping;

        #[message_mapping("/<room>")]
        pub fn typing(room: String) -> String {
            room
        }
    }
}

#[message_mapping("game")]
mod game {
    use stomp_server::message_mapping;

    #[message_mapping("<game>.move")]
    pub fn game_move(game: u32) -> u32 {
        game
    }
}

fn main() {
    let mut found: Vec<(&str, MappingKind, &str)> = inventory::iter::<HandlerDescriptor>()
        .map(|d| (d.pattern, d.kind, d.location.function))
        .collect();
    found.sort_by_key(|(pattern, _, _)| *pattern);
    assert_eq!(
        found,
        [
            ("/chat/<room>", MappingKind::Message, "post"),
            ("/chat/<room>/history", MappingKind::Subscribe, "history"),
            ("/chat/<room>/kick/<user>", MappingKind::Message, "kick"),
            ("/chat/typing/<room>", MappingKind::Message, "typing"),
            ("game.<game>.move", MappingKind::Message, "game_move"),
        ]
    );
    let post = inventory::iter::<HandlerDescriptor>()
        .find(|d| d.location.function == "post")
        .unwrap();
    assert_eq!(post.routing.send_to, ["/topic/chat/<room>"]);
    assert_eq!(post.location.module, format!("{}::chat", module_path!()));
}

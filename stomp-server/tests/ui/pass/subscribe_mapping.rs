// `#[subscribe_mapping]` registers a SUBSCRIBE handler, sync or async.
use stomp_server::__private::{inventory, HandlerDescriptor, MappingKind};
use stomp_server::{subscribe_mapping, Principal};

#[subscribe_mapping("/chat/<room>/history")]
fn history(room: String) -> Vec<String> {
    vec![room]
}

#[subscribe_mapping("/me")]
async fn me(user: Principal) -> String {
    user.name().to_owned()
}

fn main() {
    let mut found: Vec<(&str, MappingKind)> = inventory::iter::<HandlerDescriptor>()
        .map(|d| (d.pattern, d.kind))
        .collect();
    found.sort_by_key(|(pattern, _)| *pattern);
    assert_eq!(
        found,
        [
            ("/chat/<room>/history", MappingKind::Subscribe),
            ("/me", MappingKind::Subscribe),
        ]
    );
}

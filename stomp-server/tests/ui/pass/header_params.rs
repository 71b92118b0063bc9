// `#[header("name")]` and `#[header]` parameters (name from the parameter, `_` → `-`),
// mixed with path variables and extractors.
use stomp_server::{message_mapping, Principal};

#[message_mapping("/orders/<id>")]
fn order(
    id: u64,
    #[header("x-request-id")] request: String,
    #[header] content_type: Option<String>,
    #[header] priority: Option<u8>,
    #[header("x-tags")] tags: Vec<String>,
    user: Principal,
) -> String {
    format!("{id} {request} {content_type:?} {priority:?} {tags:?} {user}")
}

fn main() {}

//! The simple broker's point-to-point pacing, driven by hand: the tests play the session's
//! writer (taking what is queued and saying how much was written), so every step is exact.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::{
    AckMode, AckRequest, AckTarget, Broker, PublishedMessage, SimpleBroker, SubscribeRequest,
};
use crate::config::BrokerConfig;
use crate::peer::{OutboundItem, Receiver, SessionHandle};

/// The send-buffer limit of the test sessions: a paced consumer gets half of it at once.
const LIMIT: usize = 4_096;

fn broker(config: BrokerConfig) -> SimpleBroker {
    SimpleBroker::with_config(
        Vec::new(),
        '/',
        BrokerConfig {
            point_to_point_prefixes: vec!["/queue".to_owned()],
            ..config
        },
    )
}

fn publish(broker: &SimpleBroker, destination: &str, bodies: std::ops::Range<usize>) {
    for i in bodies {
        let message = PublishedMessage {
            destination: destination.to_owned(),
            headers: Vec::new(),
            body: Bytes::from(format!("{i:0>100}")),
        };
        broker.publish(Arc::new(message)).expect("held");
    }
}

fn subscribe(broker: &SimpleBroker, session: &Arc<SessionHandle>, destination: &str, ack: AckMode) {
    subscribe_as(broker, session, "0", destination, ack);
}

fn subscribe_as(
    broker: &SimpleBroker,
    session: &Arc<SessionHandle>,
    id: &str,
    destination: &str,
    ack: AckMode,
) {
    let request = SubscribeRequest {
        id: Arc::from(id),
        destination: destination.to_owned(),
        reported_destination: None,
        ack,
        prefetch: None,
        user: None,
    };
    broker.subscribe(session, request).expect("subscribed");
}

/// What the writer finds queued: `(body as a number, ack id, bytes)` of each `MESSAGE`
/// (withdrawn deliveries left out, as the writer skips them).
fn take(rx: &mut Receiver) -> Vec<(usize, Option<String>, usize)> {
    let mut items = VecDeque::new();
    rx.take(&mut items);
    items
        .into_iter()
        .filter(|item| item.withdrawn_len().is_none())
        .filter_map(|item| match item {
            OutboundItem::Frame(message, len) | OutboundItem::Delivery(message, len, _) => {
                let text = message.to_text().expect("text").to_owned();
                let (head, body) = text.split_once("\n\n").expect("a frame");
                let ack = head
                    .lines()
                    .find_map(|l| l.strip_prefix("ack:"))
                    .map(str::to_owned);
                let number = body.trim_end_matches('\0').parse().expect("a number");
                Some((number, ack, len))
            }
            OutboundItem::Close => None,
        })
        .collect()
}

fn numbers(taken: &[(usize, Option<String>, usize)]) -> Vec<usize> {
    taken.iter().map(|(n, _, _)| *n).collect()
}

fn bytes(taken: &[(usize, Option<String>, usize)]) -> usize {
    taken.iter().map(|(_, _, len)| len).sum()
}

#[test]
fn a_queue_hands_over_what_the_connection_drains_and_more_once_it_drained() {
    let broker = broker(BrokerConfig::default());
    publish(&broker, "/queue/paced", 0..100);
    let (session, mut rx) = SessionHandle::with_queue("s", LIMIT);
    subscribe(&broker, &session, "/queue/paced", AckMode::Auto);
    let first = take(&mut rx);
    assert!(!first.is_empty() && first.len() < 100);
    assert!(bytes(&first) <= LIMIT / 2 + 200, "no more than the credit");
    // Written, but not down to the low-water mark yet: nothing more.
    let written = bytes(&first);
    session.outbound.written(written / 4);
    assert!(take(&mut rx).is_empty());
    // Drained: the rest follows in order, a credit's worth at a time.
    session.outbound.written(written - written / 4);
    let mut all = numbers(&first);
    loop {
        let next = take(&mut rx);
        if next.is_empty() {
            break;
        }
        all.extend(numbers(&next));
        session.outbound.written(bytes(&next));
    }
    assert_eq!(all, (0..100).collect::<Vec<_>>());
}

#[test]
fn auto_ack_messages_a_dead_session_never_wrote_go_back_to_the_queue() {
    let broker = broker(BrokerConfig::default());
    publish(&broker, "/queue/handed", 0..100);
    let (dying, mut dying_rx) = SessionHandle::with_queue("dying", LIMIT);
    subscribe(&broker, &dying, "/queue/handed", AckMode::Auto);
    let taken = take(&mut dying_rx);
    // The writer handed the first three to the transport, then the connection died.
    let written: usize = taken[..3].iter().map(|(_, _, len)| len).sum();
    dying.outbound.written(written);
    drop(dying_rx);
    broker.session_closed(&dying.id);
    let (next, mut next_rx) = SessionHandle::with_queue("next", usize::MAX);
    subscribe(&broker, &next, "/queue/handed", AckMode::Auto);
    assert_eq!(numbers(&take(&mut next_rx)), (3..100).collect::<Vec<_>>());
}

#[test]
fn auto_ack_messages_an_unsubscribed_consumer_never_wrote_go_to_the_next_one_instead() {
    let broker = broker(BrokerConfig::default());
    publish(&broker, "/queue/leaving", 0..100);
    let (leaving, mut leaving_rx) = SessionHandle::with_queue("leaving", LIMIT);
    subscribe(&broker, &leaving, "/queue/leaving", AckMode::Auto);
    let mut items = VecDeque::new();
    assert!(leaving_rx.take(&mut items));
    assert!(items.len() > 3 && items.len() < 100, "a credit's worth");
    // The writer handed the first three to the transport, then the client unsubscribed.
    let written: usize = items.iter().take(3).map(queued_len).sum();
    leaving.outbound.written(written);
    broker.unsubscribe(&leaving.id, "0").expect("unsubscribed");
    // Its writer skips what it had not reached...
    assert!(items.iter().skip(3).all(|i| i.withdrawn_len().is_some()));
    // ...and the next consumer gets it, in order, after nothing is lost.
    let (next, mut next_rx) = SessionHandle::with_queue("next", usize::MAX);
    subscribe(&broker, &next, "/queue/leaving", AckMode::Auto);
    assert_eq!(numbers(&take(&mut next_rx)), (3..100).collect::<Vec<_>>());
}

fn queued_len(item: &OutboundItem) -> usize {
    match item {
        OutboundItem::Frame(_, len) | OutboundItem::Delivery(_, len, _) => *len,
        OutboundItem::Close => 0,
    }
}

#[test]
fn a_client_ack_consumer_waits_at_half_its_sessions_byte_bound_until_it_acknowledges() {
    let broker = broker(BrokerConfig {
        max_unacked_bytes_per_session: 1_000,
        ..BrokerConfig::default()
    });
    publish(&broker, "/queue/bound", 0..20);
    let (session, mut rx) = SessionHandle::with_queue("s", usize::MAX);
    subscribe(&broker, &session, "/queue/bound", AckMode::Client);
    let first = take(&mut rx);
    // Each message holds 112 bytes (destination and body): four fit in the 500 that
    // point-to-point consumers may hold.
    assert_eq!(numbers(&first), (0..4).collect::<Vec<_>>());
    acknowledge(&broker, &session, &first[1]);
    assert_eq!(numbers(&take(&mut rx)), (4..6).collect::<Vec<_>>());
}

#[test]
fn a_full_client_ack_queue_leaves_room_for_the_sessions_broadcast_subscriptions() {
    let broker = broker(BrokerConfig {
        max_unacked_bytes_per_session: 1_000,
        ..BrokerConfig::default()
    });
    publish(&broker, "/queue/jobs", 0..50);
    let (session, mut rx) = SessionHandle::with_queue("s", usize::MAX);
    subscribe_as(&broker, &session, "jobs", "/queue/jobs", AckMode::Client);
    subscribe_as(&broker, &session, "news", "/topic/news", AckMode::Client);
    let jobs = take(&mut rx);
    // The consumer acknowledges promptly; its backlog refills it to its bound at once.
    acknowledge(&broker, &session, &jobs[0]);
    assert!(
        !take(&mut rx).is_empty(),
        "the backlog refilled the queue consumer"
    );
    // Broadcast messages (111 bytes each) to a subscription whose window is empty.
    publish(&broker, "/topic/news", 1_000..1_002);
    assert_eq!(
        session.outbound.close_cause(),
        crate::peer::CloseCause::None,
        "not a slow consumer"
    );
    let news = take(&mut rx);
    assert_eq!(numbers(&news), [1_000, 1_001]);
    assert!(news[0].1.as_deref().is_some_and(|a| a.ends_with("-news")));
}

fn acknowledge(
    broker: &SimpleBroker,
    session: &Arc<SessionHandle>,
    taken: &(usize, Option<String>, usize),
) {
    let request = AckRequest {
        nack: false,
        target: AckTarget::AckId(taken.1.clone().expect("an ack id")),
        transaction: None,
    };
    broker
        .acknowledge(&session.id, &request)
        .expect("acknowledged");
}

#[test]
fn sessions_that_never_acknowledge_cannot_add_up_past_the_brokers_bound() {
    // Each session may hold 1,000 bytes; all of them together 1,500.
    let broker = broker(BrokerConfig {
        max_unacked_bytes_per_session: 1_000,
        max_unacked_bytes_total: 1_500,
        ..BrokerConfig::default()
    });
    let (first, mut first_rx) = SessionHandle::with_queue("s1", usize::MAX);
    let (second, mut second_rx) = SessionHandle::with_queue("s2", usize::MAX);
    subscribe_as(&broker, &first, "a", "/topic/t", AckMode::Client);
    subscribe_as(&broker, &second, "b", "/topic/t", AckMode::Client);
    // 111 bytes a message: six reach both (1,332 held), the seventh would pass 1,500.
    publish(&broker, "/topic/t", 0..6);
    assert_eq!(numbers(&take(&mut first_rx)), (0..6).collect::<Vec<_>>());
    assert_eq!(numbers(&take(&mut second_rx)), (0..6).collect::<Vec<_>>());
    publish(&broker, "/topic/t", 6..7);
    let (first_closed, second_closed) = (
        first.outbound.close_cause() == crate::peer::CloseCause::AckBacklog,
        second.outbound.close_cause() == crate::peer::CloseCause::AckBacklog,
    );
    // The first still fits (1,443 bytes), the second would pass 1,500.
    assert!(
        !first_closed && second_closed,
        "{first_closed} {second_closed}"
    );
    let first_taken = take(&mut first_rx);
    assert_eq!(numbers(&first_taken), [6]);
    // A point-to-point consumer of a third session waits instead of being closed.
    publish(&broker, "/queue/q", 100..103);
    let (third, mut third_rx) = SessionHandle::with_queue("s3", usize::MAX);
    subscribe(&broker, &third, "/queue/q", AckMode::Client);
    // 1,443 bytes are held: the consumer gets one message (its own half of 500 would take
    // four), and the next when it acknowledges that one; it is not closed.
    let one = take(&mut third_rx);
    assert_eq!(numbers(&one), [100]);
    acknowledge(&broker, &third, &one[0]);
    assert_eq!(numbers(&take(&mut third_rx)), [101]);
    assert_eq!(third.outbound.close_cause(), crate::peer::CloseCause::None);
}

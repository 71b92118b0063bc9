//! The broker relay against a real RabbitMQ: two server instances in this process, each
//! relaying to 127.0.0.1:61613 (`RelayConfig::default()`), with the framework's client on
//! each. Messages, handler replies and user destinations must cross from one instance to
//! the other; acknowledgements must reach RabbitMQ's real queues.
//!
//! ```text
//! bash tests/relay/start-rabbitmq.sh                   # once: RabbitMQ with rabbitmq_stomp
//! cargo test -p tests --test relay -- --nocapture
//! ```
//!
//! Without RabbitMQ (nothing on 127.0.0.1:61613) every test prints a loud `SKIPPED` line
//! and passes, unless `STOMP_REQUIRE_ALL=1`, which makes it fail (CI sets it). RabbitMQ is
//! shared and keeps queues, so every test uses destinations and user names with a fresh
//! suffix ([`relay_common::unique`]). `RUST_LOG=stomp_server=debug` shows the relay's log.
//! The outage test is its own binary: `relay_restart.rs`.

mod relay_common;

use std::collections::HashSet;
use std::time::Duration;

use relay_common::{
    body, expect_message, expect_nothing, init_logging, rabbit_or_skip, show, unique, Instance,
};
use stomp_server::client::StompSession;
use stomp_server::{message_mapping, send_to, send_to_user, Command, Frame, Payload, Principal};

/// How long an instance may take to open its system connection to RabbitMQ.
const AVAILABLE: Duration = Duration::from_secs(30);

// ---- handlers (collected by `inventory`; both instances serve them) ----

/// `SEND /app/relay/echo/{tag}` → `/topic/relay/handled/{tag}`, on whichever instance has
/// the subscribers.
#[message_mapping("/relay/echo/<tag>")]
#[send_to("/topic/relay/handled/<tag>")]
fn echo(tag: String, user: Principal, Payload(text): Payload<String>) -> String {
    format!("{text} from {} via {tag}", user.name())
}

/// Answers the sending session only, even when its user has other sessions elsewhere.
#[message_mapping("/relay/whoami")]
#[send_to_user("/queue/whoami", broadcast = false)]
fn whoami(user: Principal, Payload(text): Payload<String>) -> String {
    format!("{}: {text}", user.name())
}

/// Answers every session of the sending user, on every instance.
#[message_mapping("/relay/notify")]
#[send_to_user("/queue/notify")]
fn notify(user: Principal, Payload(text): Payload<String>) -> String {
    format!("{}: {text}", user.name())
}

// ---- helpers ----

/// Two instances with their system connections up.
async fn two_instances() -> (Instance, Instance) {
    init_logging();
    let a = Instance::start("A").await;
    let b = Instance::start("B").await;
    a.wait_available(AVAILABLE).await;
    b.wait_available(AVAILABLE).await;
    (a, b)
}

fn send_frame(destination: &str, text: &str) -> Frame {
    Frame::new(Command::Send)
        .header("destination", destination)
        .header("content-type", "text/plain")
        .with_body(text.to_owned())
}

/// `SEND` with a receipt: the frame reached the broker when this returns.
async fn send_confirmed(session: &StompSession, destination: &str, text: &str) {
    session
        .send_with_receipt(send_frame(destination, text))
        .await
        .unwrap_or_else(|e| panic!("SEND {destination} ({text:?}) got no RECEIPT: {e}"));
}

fn assert_message(frame: &Frame, destination: &str, text: &str, what: &str) {
    assert_eq!(
        (frame.command, frame.destination(), body(frame).as_str()),
        (Command::Message, Some(destination), text),
        "{what}: unexpected frame:\n{}",
        show(frame)
    );
}

async fn close(sessions: impl IntoIterator<Item = StompSession>) {
    for session in sessions {
        let _ = session.disconnect().await;
    }
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_message_sent_on_one_instance_reaches_subscribers_on_both() {
    if !rabbit_or_skip("a_topic_message_sent_on_one_instance_reaches_subscribers_on_both") {
        return;
    }
    let (a, b) = two_instances().await;
    let topic = format!("/topic/relay/{}", unique());
    let alice = a.connect(&format!("alice-{}", unique())).await;
    let bob = b.connect(&format!("bob-{}", unique())).await;
    let mut on_a = alice.subscribe(&topic).await.expect("subscribe on A");
    let mut on_b = bob.subscribe(&topic).await.expect("subscribe on B");

    for text in ["m1", "m2", "m3"] {
        alice.send(&topic, text).await.expect("send on A");
    }
    for text in ["m1", "m2", "m3"] {
        let frame = expect_message(&mut on_b, &format!("B's subscriber, {text}")).await;
        assert_message(&frame, &topic, text, "B's subscriber (in order)");
        let frame = expect_message(&mut on_a, &format!("A's subscriber, {text}")).await;
        assert_message(&frame, &topic, text, "A's subscriber (in order)");
    }
    // Each subscriber got each message once.
    expect_nothing(&mut on_a, "A's subscriber after m3").await;
    expect_nothing(&mut on_b, "B's subscriber after m3").await;

    // And back: the template of B reaches A's subscriber.
    b.template
        .convert_and_send(&topic, "from B's template")
        .expect("template send on B");
    let frame = expect_message(&mut on_a, "A's subscriber, B's template").await;
    assert_message(&frame, &topic, "from B's template", "A's subscriber");
    let frame = expect_message(&mut on_b, "B's subscriber, B's template").await;
    assert_message(&frame, &topic, "from B's template", "B's subscriber");
    close([alice, bob]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_ids_are_unique_across_instances() {
    if !rabbit_or_skip("session_ids_are_unique_across_instances") {
        return;
    }
    let (a, b) = two_instances().await;
    let mut sessions = Vec::new();
    for instance in [&a, &b, &a, &b, &a, &b] {
        sessions.push(instance.connect(&format!("u-{}", unique())).await);
    }
    let ids: Vec<String> = sessions
        .iter()
        .map(|s| {
            s.session_id()
                .expect("CONNECTED has a `session` header")
                .to_owned()
        })
        .collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "session ids of two instances collide (user destinations would cross): {ids:?}"
    );
    close(sessions).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_subscription_uses_the_embedded_broker_syntax() {
    if !rabbit_or_skip("a_pattern_subscription_uses_the_embedded_broker_syntax") {
        return;
    }
    let (a, b) = two_instances().await;
    let base = format!("/topic/relay/{}", unique());
    let watcher = b.connect(&format!("w-{}", unique())).await;
    let mut one_level = watcher
        .subscribe(&format!("{base}/*"))
        .await
        .expect("subscribe to a `*` pattern on B");
    let mut any_depth = watcher
        .subscribe(&format!("{base}/**"))
        .await
        .expect("subscribe to a `**` pattern on B");
    let sender = a.connect(&format!("s-{}", unique())).await;
    sender
        .send(&format!("{base}/room1"), "one level")
        .await
        .expect("send");
    sender
        .send(&format!("{base}/room1/sub"), "two levels")
        .await
        .expect("send");

    let frame = expect_message(&mut one_level, "`*` subscriber").await;
    assert_message(
        &frame,
        &format!("{base}/room1"),
        "one level",
        "`*` subscriber",
    );
    expect_nothing(&mut one_level, "`*` must not match two levels").await;
    let frame = expect_message(&mut any_depth, "`**` subscriber, first").await;
    assert_message(
        &frame,
        &format!("{base}/room1"),
        "one level",
        "`**` subscriber",
    );
    let frame = expect_message(&mut any_depth, "`**` subscriber, second").await;
    assert_message(
        &frame,
        &format!("{base}/room1/sub"),
        "two levels",
        "`**` subscriber",
    );
    close([watcher, sender]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_handler_on_one_instance_reaches_subscribers_of_the_other() {
    if !rabbit_or_skip("a_send_to_handler_on_one_instance_reaches_subscribers_of_the_other") {
        return;
    }
    let (a, b) = two_instances().await;
    let tag = unique();
    let topic = format!("/topic/relay/handled/{tag}");
    let ann = format!("ann-{}", unique());
    let poster = a.connect(&ann).await;
    let reader = b.connect(&format!("reader-{}", unique())).await;
    let mut on_b = reader.subscribe(&topic).await.expect("subscribe on B");
    let mut on_a = poster.subscribe(&topic).await.expect("subscribe on A");

    poster
        .send(&format!("/app/relay/echo/{tag}"), "hello")
        .await
        .expect("send to the handler on A");
    let expected = format!("hello from {ann} via {tag}");
    let frame = expect_message(&mut on_b, "B's subscriber of the handler's topic").await;
    assert_message(&frame, &topic, &expected, "B's subscriber");
    let frame = expect_message(&mut on_a, "A's subscriber of the handler's topic").await;
    assert_message(&frame, &topic, &expected, "A's subscriber");
    close([poster, reader]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convert_and_send_to_user_reaches_the_users_sessions_on_every_instance() {
    if !rabbit_or_skip("convert_and_send_to_user_reaches_the_users_sessions_on_every_instance") {
        return;
    }
    let (a, b) = two_instances().await;
    let run = unique();
    let bob = format!("bob-{run}");
    let carol = format!("carol-{run}");
    // bob on B (and a second tab on A), carol on B; the template of A sends to bob.
    let bob_b = b.connect(&bob).await;
    let bob_a = a.connect(&bob).await;
    let carol_b = b.connect(&carol).await;
    let mut bob_b_reply = bob_b
        .subscribe("/user/queue/reply")
        .await
        .expect("subscribe");
    let mut bob_a_reply = bob_a
        .subscribe("/user/queue/reply")
        .await
        .expect("subscribe");
    let mut carol_reply = carol_b
        .subscribe("/user/queue/reply")
        .await
        .expect("subscribe");

    let text = format!("for {bob}");
    a.template
        .convert_and_send_to_user(&bob, "/queue/reply", &text)
        .expect("convert_and_send_to_user on A");
    let frame = expect_message(&mut bob_b_reply, "bob's session on B").await;
    assert_message(&frame, "/user/queue/reply", &text, "bob's session on B");
    let frame = expect_message(&mut bob_a_reply, "bob's session on A").await;
    assert_message(&frame, "/user/queue/reply", &text, "bob's session on A");
    expect_nothing(&mut carol_reply, "carol must not get bob's message").await;
    expect_nothing(&mut bob_b_reply, "bob's session on B, once only").await;

    // The other way round, to carol alone: bob's sessions stay quiet.
    b.template
        .convert_and_send_to_user(&carol, "/queue/reply", "for carol")
        .expect("convert_and_send_to_user on B");
    let frame = expect_message(&mut carol_reply, "carol's session on B").await;
    assert_message(&frame, "/user/queue/reply", "for carol", "carol's session");
    expect_nothing(&mut bob_a_reply, "bob on A must not get carol's message").await;
    expect_nothing(&mut bob_b_reply, "bob on B must not get carol's message").await;
    close([bob_a, bob_b, carol_b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_user_without_broadcast_answers_only_the_sending_session() {
    if !rabbit_or_skip("send_to_user_without_broadcast_answers_only_the_sending_session") {
        return;
    }
    let (a, b) = two_instances().await;
    let dave = format!("dave-{}", unique());
    let dave_a = a.connect(&dave).await;
    let dave_b = b.connect(&dave).await;
    let mut whoami_a = dave_a
        .subscribe("/user/queue/whoami")
        .await
        .expect("subscribe");
    let mut whoami_b = dave_b
        .subscribe("/user/queue/whoami")
        .await
        .expect("subscribe");
    let mut notify_a = dave_a
        .subscribe("/user/queue/notify")
        .await
        .expect("subscribe");
    let mut notify_b = dave_b
        .subscribe("/user/queue/notify")
        .await
        .expect("subscribe");

    dave_a
        .send("/app/relay/whoami", "who?")
        .await
        .expect("send to whoami on A");
    let frame = expect_message(&mut whoami_a, "the sending session (A)").await;
    assert_message(
        &frame,
        "/user/queue/whoami",
        &format!("{dave}: who?"),
        "the sending session",
    );
    expect_nothing(&mut whoami_b, "dave's other session (B), broadcast = false").await;

    // The control: with broadcast (the default) both sessions hear the reply.
    dave_a
        .send("/app/relay/notify", "all tabs")
        .await
        .expect("send to notify on A");
    let text = format!("{dave}: all tabs");
    let frame = expect_message(&mut notify_b, "dave's session on B, broadcast").await;
    assert_message(&frame, "/user/queue/notify", &text, "dave on B");
    let frame = expect_message(&mut notify_a, "dave's session on A, broadcast").await;
    assert_message(&frame, "/user/queue/notify", &text, "dave on A");
    expect_nothing(&mut whoami_b, "dave's session on B, whoami, in the end").await;
    close([dave_a, dave_b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_acknowledgements_reach_rabbitmq_queues() {
    if !rabbit_or_skip("client_acknowledgements_reach_rabbitmq_queues") {
        return;
    }
    let (a, b) = two_instances().await;
    let name = format!("relay-ack-{}", unique());
    let queue = format!("/queue/{name}");
    let producer = a.connect(&format!("producer-{}", unique())).await;

    // A real queue: sent before anyone subscribes, kept for the first subscriber.
    send_confirmed(&producer, &queue, "first").await;

    let subscribe = || {
        Frame::new(Command::Subscribe)
            .header("id", "acks")
            .header("destination", &queue)
            .header("ack", "client-individual")
    };
    let consumer = b.connect(&format!("consumer-{}", unique())).await;
    let mut messages = consumer
        .subscribe_with(subscribe(), true)
        .await
        .expect("SUBSCRIBE ack:client-individual on B");
    let first = expect_message(&mut messages, "the message sent before the subscription").await;
    assert_message(&first, &queue, "first", "the kept message");
    let ack_id = first
        .get("ack")
        .unwrap_or_else(|| {
            panic!(
                "an ack:client-individual MESSAGE has an `ack` header:\n{}",
                show(&first)
            )
        })
        .to_owned();
    consumer
        .send_with_receipt(Frame::new(Command::Ack).header("id", &ack_id))
        .await
        .unwrap_or_else(|e| panic!("ACK id:{ack_id} got no RECEIPT: {e}"));

    // The second one is delivered but never acknowledged: RabbitMQ requeues it when the
    // session (and so its relay connection) ends, and gives it to the next consumer.
    send_confirmed(&producer, &queue, "second").await;
    let second = expect_message(&mut messages, "the second message").await;
    assert_message(&second, &queue, "second", "the second message");
    drop(messages);
    consumer
        .disconnect()
        .await
        .expect("DISCONNECT with receipt");

    let next = a.connect(&format!("next-{}", unique())).await;
    let mut again = next
        .subscribe_with(subscribe(), true)
        .await
        .expect("SUBSCRIBE ack:client-individual on A");
    let redelivered = expect_message(&mut again, "the unacknowledged message, redelivered").await;
    assert_message(
        &redelivered,
        &queue,
        "second",
        "redelivery (the acknowledged `first` must not come back)",
    );
    assert_eq!(
        redelivered.get("redelivered"),
        Some("true"),
        "RabbitMQ marks a requeued message `redelivered:true`:\n{}",
        show(&redelivered)
    );
    let ack_id = redelivered.get("ack").expect("`ack` header").to_owned();
    next.send_with_receipt(Frame::new(Command::Ack).header("id", &ack_id))
        .await
        .unwrap_or_else(|e| panic!("ACK id:{ack_id} got no RECEIPT: {e}"));
    expect_nothing(&mut again, "nothing else is in the queue").await;
    drop(again);
    close([producer, next]).await;
    relay_common::delete_queue(&name).await;
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_clients_can_neither_read_nor_forge_a_users_messages() {
    if !rabbit_or_skip("other_clients_can_neither_read_nor_forge_a_users_messages") {
        return;
    }
    let (a, b) = two_instances().await;
    let run = unique();
    let bob = format!("bob-{run}");
    let bob_b = b.connect(&bob).await;
    let mut bob_reply = bob_b
        .subscribe("/user/queue/reply")
        .await
        .expect("subscribe");
    // Eve listens to every topic there is, on both instances.
    let eve_a = a.connect(&format!("eve-{run}")).await;
    let eve_b = b.connect(&format!("eve-{run}")).await;
    let mut eve_everything_a = eve_a.subscribe("/topic/**").await.expect("subscribe");
    let mut eve_everything_b = eve_b.subscribe("/topic/**").await.expect("subscribe");

    let text = format!("secret for {bob}");
    a.template
        .convert_and_send_to_user(&bob, "/queue/reply", &text)
        .expect("convert_and_send_to_user on A");
    let frame = expect_message(&mut bob_reply, "bob's session").await;
    assert_message(&frame, "/user/queue/reply", &text, "bob's session");
    expect_nothing(
        &mut eve_everything_a,
        "a /topic/** subscriber must not see user messages",
    )
    .await;
    expect_nothing(
        &mut eve_everything_b,
        "a /topic/** subscriber must not see user messages",
    )
    .await;

    // Naming the private route directly is refused.
    let route = format!("/exchange/amq.direct/stomp-user.{bob}.queue.reply");
    let refused = eve_a.send_with_receipt(send_frame(&route, "forged")).await;
    assert!(refused.is_err(), "a SEND to the user route must be refused");
    expect_nothing(&mut bob_reply, "bob must not get a forged message").await;
    close([bob_b, eve_b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_transactions_are_rabbitmqs() {
    if !rabbit_or_skip("client_transactions_are_rabbitmqs") {
        return;
    }
    let (a, b) = two_instances().await;
    let topic = format!("/topic/relay/tx-{}", unique());
    let reader = b.connect(&format!("reader-{}", unique())).await;
    let mut sub = reader.subscribe(&topic).await.expect("subscribe");
    let writer = a.connect(&format!("writer-{}", unique())).await;
    let tx = |command: Command, id: &str| Frame::new(command).header("transaction", id);

    writer
        .send_with_receipt(tx(Command::Begin, "t1"))
        .await
        .expect("BEGIN");
    writer
        .send_with_receipt(send_frame(&topic, "committed").header("transaction", "t1"))
        .await
        .expect("SEND in t1");
    expect_nothing(&mut sub, "a SEND in an open transaction").await;
    writer
        .send_with_receipt(tx(Command::Commit, "t1"))
        .await
        .expect("COMMIT");
    let frame = expect_message(&mut sub, "the committed SEND").await;
    assert_message(&frame, &topic, "committed", "after COMMIT");

    writer
        .send_with_receipt(tx(Command::Begin, "t2"))
        .await
        .expect("BEGIN");
    writer
        .send_with_receipt(send_frame(&topic, "aborted").header("transaction", "t2"))
        .await
        .expect("SEND in t2");
    writer
        .send_with_receipt(tx(Command::Abort, "t2"))
        .await
        .expect("ABORT");
    send_confirmed(&writer, &topic, "after abort").await;
    let frame = expect_message(&mut sub, "the SEND after ABORT").await;
    assert_message(
        &frame,
        &topic,
        "after abort",
        "the aborted SEND never arrives",
    );
    close([reader, writer]).await;
}

package stomprs.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.springframework.messaging.converter.ByteArrayMessageConverter;
import org.springframework.messaging.converter.CompositeMessageConverter;
import org.springframework.messaging.converter.MappingJackson2MessageConverter;
import org.springframework.messaging.simp.stomp.StompFrameHandler;
import org.springframework.messaging.simp.stomp.StompHeaders;
import org.springframework.messaging.simp.stomp.StompSession;
import org.springframework.messaging.simp.stomp.StompSessionHandlerAdapter;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.util.MimeTypeUtils;
import org.springframework.web.socket.client.standard.StandardWebSocketClient;
import org.springframework.web.socket.messaging.WebSocketStompClient;
import org.springframework.web.socket.sockjs.client.RestTemplateXhrTransport;
import org.springframework.web.socket.sockjs.client.SockJsClient;
import org.springframework.web.socket.sockjs.client.Transport;
import org.springframework.web.socket.sockjs.client.WebSocketTransport;

/**
 * Spring's own STOMP client ({@link WebSocketStompClient}) against a server given by system
 * properties, over plain WebSocket and over SockJS (its WebSocket and XHR transports).
 *
 * <ul>
 *   <li>{@code stomp.chat.url}: the chat's STOMP endpoint, e.g. {@code ws://127.0.0.1:8080/ws}</li>
 *   <li>{@code stomp.chat.sockjs}: the chat's SockJS endpoint, e.g. {@code http://127.0.0.1:8080/ws}</li>
 *   <li>{@code stomp.greeting.url}, {@code stomp.greeting.sockjs}: the Spring guide's
 *       endpoint, e.g. {@code ws://127.0.0.1:8081/gs-guide-websocket}</li>
 *   <li>{@code stomp.receipts}: {@code false} against Spring's simple broker, which answers no
 *       {@code SUBSCRIBE} with a RECEIPT (ours does, once the subscription is live)</li>
 * </ul>
 */
class SpringClientTest {
    private static final long WAIT_S = 10;
    private static ThreadPoolTaskScheduler scheduler;

    @BeforeAll
    static void startScheduler() {
        scheduler = new ThreadPoolTaskScheduler();
        scheduler.setPoolSize(1);
        scheduler.setThreadNamePrefix("client-heartbeat-");
        scheduler.initialize();
    }

    @AfterAll
    static void stopScheduler() {
        scheduler.shutdown();
    }

    /** The transports to test: {@code stomp.transports}, comma-separated, default all three. */
    static Stream<String> transports() {
        return Stream.of(System.getProperty("stomp.transports", "websocket,sockjs-websocket,sockjs-xhr")
                .split(",")).map(String::trim).filter(t -> !t.isEmpty());
    }

    private static String property(String name) {
        String value = System.getProperty(name);
        assertNotNull(value, "system property " + name + " is required");
        return value;
    }

    /** A client on {@code transport}, converting JSON with Jackson 2 and byte[] as is. */
    private static WebSocketStompClient client(String transport) {
        WebSocketStompClient client = switch (transport) {
            case "websocket" -> new WebSocketStompClient(new StandardWebSocketClient());
            case "sockjs-websocket" -> new WebSocketStompClient(new SockJsClient(
                    List.<Transport>of(new WebSocketTransport(new StandardWebSocketClient()))));
            case "sockjs-xhr" -> new WebSocketStompClient(
                    new SockJsClient(List.<Transport>of(new RestTemplateXhrTransport())));
            default -> throw new IllegalArgumentException(transport);
        };
        client.setMessageConverter(new CompositeMessageConverter(
                List.of(new ByteArrayMessageConverter(), new MappingJackson2MessageConverter())));
        client.setTaskScheduler(scheduler);
        client.setDefaultHeartbeat(new long[] {10000, 10000});
        return client;
    }

    private static String chatUrl(String transport) {
        return transport.equals("websocket") ? property("stomp.chat.url") : property("stomp.chat.sockjs");
    }

    /** A connected session of user {@code login}, with the CONNECTED headers. */
    private record Connected(StompSession session, StompHeaders headers, BlockingQueue<Throwable> errors) {}

    private static Connected connect(WebSocketStompClient client, String url, String login)
            throws Exception {
        StompHeaders connect = new StompHeaders();
        if (login != null) {
            connect.setLogin(login);
            connect.setPasscode("unused");
        }
        CompletableFuture<StompHeaders> connected = new CompletableFuture<>();
        BlockingQueue<Throwable> errors = new LinkedBlockingQueue<>();
        StompSession session = client.connectAsync(url, (org.springframework.web.socket.WebSocketHttpHeaders) null, connect, new StompSessionHandlerAdapter() {
            @Override
            public void afterConnected(StompSession session, StompHeaders headers) {
                connected.complete(headers);
            }

            @Override
            public void handleTransportError(StompSession session, Throwable exception) {
                errors.add(exception);
                connected.completeExceptionally(exception);
            }

            @Override
            public void handleException(StompSession s, org.springframework.messaging.simp.stomp.StompCommand c,
                    StompHeaders h, byte[] payload, Throwable exception) {
                errors.add(exception);
            }

            @Override
            public void handleFrame(StompHeaders headers, Object payload) {
                errors.add(new AssertionError("ERROR frame: " + headers));
            }
        }).get(WAIT_S, TimeUnit.SECONDS);
        session.setAutoReceipt(true);
        return new Connected(session, connected.get(WAIT_S, TimeUnit.SECONDS), errors);
    }

    /** Subscribes and waits for the server's RECEIPT, so the subscription is live. */
    private static <T> BlockingQueue<T> subscribe(StompSession session, String destination, Type type)
            throws Exception {
        BlockingQueue<T> queue = new LinkedBlockingQueue<>();
        CompletableFuture<Void> receipt = new CompletableFuture<>();
        StompSession.Subscription subscription = session.subscribe(destination, new StompFrameHandler() {
            @Override
            public Type getPayloadType(StompHeaders headers) {
                return type;
            }

            @Override
            @SuppressWarnings("unchecked")
            public void handleFrame(StompHeaders headers, Object payload) {
                queue.add((T) payload);
            }
        });
        if (!Boolean.parseBoolean(System.getProperty("stomp.receipts", "true"))) {
            // Spring's simple broker sends no RECEIPT for SUBSCRIBE: give it a moment instead.
            Thread.sleep(300);
            return queue;
        }
        subscription.addReceiptTask(() -> receipt.complete(null));
        subscription.addReceiptLostTask(() -> receipt.completeExceptionally(
                new AssertionError("no RECEIPT for SUBSCRIBE " + destination)));
        receipt.get(WAIT_S, TimeUnit.SECONDS);
        return queue;
    }

    private static <T> T next(BlockingQueue<T> queue, String what) throws InterruptedException {
        T value = queue.poll(WAIT_S, TimeUnit.SECONDS);
        assertNotNull(value, "no " + what + " within " + WAIT_S + " s");
        return value;
    }

    private static String room() {
        return "r" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    }

    @ParameterizedTest
    @MethodSource("transports")
    @SuppressWarnings("unchecked")
    void chatMessagesHistoryAndHeartBeats(String transport) throws Exception {
        WebSocketStompClient client = client(transport);
        Connected alice = connect(client, chatUrl(transport), "alice");
        long[] heartbeat = alice.headers().getHeartbeat();
        assertNotNull(heartbeat, "CONNECTED has a heart-beat header");
        assertTrue(heartbeat[0] > 0 && heartbeat[1] > 0, "heart-beats both ways: " + heartbeat[0] + "," + heartbeat[1]);
        String room = room();
        BlockingQueue<Map<String, Object>> messages = subscribe(alice.session(), "/topic/chat/" + room, Map.class);
        StompHeaders send = new StompHeaders();
        send.setDestination("/app/chat/" + room);
        send.setContentType(MimeTypeUtils.APPLICATION_JSON);
        alice.session().send(send, Map.of("content", "hello from Spring"));
        Map<String, Object> message = next(messages, "MESSAGE on /topic/chat/" + room);
        assertEquals(room, message.get("room"));
        assertEquals("alice", message.get("sender"));
        assertEquals("hello from Spring", message.get("content"));
        // @SubscribeMapping: one reply to this subscriber, with the history.
        BlockingQueue<List<Map<String, Object>>> history =
                subscribe(alice.session(), "/app/chat/" + room + "/history", List.class);
        List<Map<String, Object>> past = next(history, "the history reply");
        assertEquals(1, past.size(), "history: " + past);
        assertEquals("hello from Spring", past.get(0).get("content"));
        assertTrue(alice.errors().isEmpty(), "errors: " + alice.errors());
        alice.session().disconnect();
        client.stop();
    }

    @ParameterizedTest
    @MethodSource("transports")
    @SuppressWarnings("unchecked")
    void errorsReachTheSenderOnlyOnItsUserQueue(String transport) throws Exception {
        WebSocketStompClient client = client(transport);
        Connected alice = connect(client, chatUrl(transport), "alice");
        Connected bob = connect(client, chatUrl(transport), "bob");
        BlockingQueue<Map<String, Object>> aliceErrors = subscribe(alice.session(), "/user/queue/errors", Map.class);
        BlockingQueue<Map<String, Object>> bobErrors = subscribe(bob.session(), "/user/queue/errors", Map.class);
        String room = room();
        StompHeaders send = new StompHeaders();
        send.setDestination("/app/chat/" + room);
        send.setContentType(MimeTypeUtils.APPLICATION_JSON);
        alice.session().send(send, Map.of("content", "   "));
        Map<String, Object> error = next(aliceErrors, "an error on /user/queue/errors");
        assertEquals("the message is empty", error.get("error"));
        assertNull(bobErrors.poll(500, TimeUnit.MILLISECONDS), "bob must not see alice's error");
        // The session is still usable after the error.
        BlockingQueue<Map<String, Object>> messages = subscribe(alice.session(), "/topic/chat/" + room, Map.class);
        alice.session().send(send, Map.of("content", "still here"));
        assertEquals("still here", next(messages, "MESSAGE after the error").get("content"));
        alice.session().disconnect();
        bob.session().disconnect();
        client.stop();
    }

    @ParameterizedTest
    @MethodSource("transports")
    void theGuideGreets(String transport) throws Exception {
        WebSocketStompClient client = client(transport);
        String url = transport.equals("websocket") ? property("stomp.greeting.url") : property("stomp.greeting.sockjs");
        Connected session = connect(client, url, null);
        BlockingQueue<Map<String, Object>> greetings = subscribe(session.session(), "/topic/greetings", Map.class);
        StompHeaders send = new StompHeaders();
        send.setDestination("/app/hello");
        send.setContentType(MimeTypeUtils.APPLICATION_JSON);
        session.session().send(send, Map.of("name", "<b>Spring</b>"));
        @SuppressWarnings("unchecked")
        Map<String, Object> greeting = next(greetings, "a greeting");
        assertEquals("Hello, &lt;b&gt;Spring&lt;/b&gt;!", greeting.get("content"));
        session.session().disconnect();
        client.stop();
    }

    @Test
    void binaryBodiesArriveByteForByte() throws Exception {
        WebSocketStompClient client = client("websocket");
        Connected session = connect(client, property("stomp.greeting.url"), null);
        String destination = "/topic/binary-" + room();
        BlockingQueue<byte[]> received = subscribe(session.session(), destination, byte[].class);
        byte[] body = new byte[256];
        for (int i = 0; i < body.length; i++) {
            body[i] = (byte) i;
        }
        StompHeaders send = new StompHeaders();
        send.setDestination(destination);
        send.setContentType(MimeTypeUtils.APPLICATION_OCTET_STREAM);
        session.session().send(send, body);
        assertArrayEquals(body, next(received, "the binary MESSAGE"));
        session.session().disconnect();
        client.stop();
    }

    @Test
    void idleSessionsStayConnectedWithHeartBeats() throws Exception {
        WebSocketStompClient client = client("websocket");
        client.setDefaultHeartbeat(new long[] {1000, 1000});
        Connected alice = connect(client, chatUrl("websocket"), "alice");
        Thread.sleep(3000);
        assertTrue(alice.session().isConnected(), "connected after 3 s idle");
        String room = room();
        BlockingQueue<Map<String, Object>> messages = subscribe(alice.session(), "/topic/chat/" + room, Map.class);
        StompHeaders send = new StompHeaders();
        send.setDestination("/app/chat/" + room);
        send.setContentType(MimeTypeUtils.APPLICATION_JSON);
        alice.session().send(send, Map.of("content", "after the wait"));
        @SuppressWarnings("unchecked")
        Map<String, Object> message = next(messages, "MESSAGE after 3 s idle");
        assertEquals("after the wait", message.get("content"));
        assertTrue(alice.errors().isEmpty(), "errors: " + alice.errors());
        List<Throwable> none = new ArrayList<>(alice.errors());
        assertTrue(none.isEmpty());
        alice.session().disconnect();
        client.stop();
    }
}

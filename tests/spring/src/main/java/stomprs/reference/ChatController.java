package stomprs.reference;

import java.security.Principal;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

import org.springframework.messaging.handler.annotation.DestinationVariable;
import org.springframework.messaging.handler.annotation.MessageExceptionHandler;
import org.springframework.messaging.handler.annotation.MessageMapping;
import org.springframework.messaging.handler.annotation.SendTo;
import org.springframework.messaging.simp.annotation.SendToUser;
import org.springframework.messaging.simp.annotation.SubscribeMapping;
import org.springframework.stereotype.Controller;

/** demo-chat's core: post to a room, read its history, errors to the sender only. */
@Controller
public class ChatController {
    private static final Pattern ROOM = Pattern.compile("^[A-Za-z0-9_-]{1,32}$");
    private static final int CONTENT_MAX = 2000;
    private static final int HISTORY = 50;

    private final Map<String, Deque<ChatMessage>> history = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();

    /** What a client sends to /app/chat/{room}. */
    public record Post(String sender, String content) {}

    /** What /topic/chat/{room} receives. */
    public record ChatMessage(String id, String room, String sender, String content, long timestamp) {}

    /** What /user/queue/errors receives. */
    public record ErrorReply(String error) {}

    /** A message the chat refuses. */
    public static class ChatException extends RuntimeException {
        public ChatException(String message) {
            super(message);
        }
    }

    @MessageMapping("/chat/{room}")
    @SendTo("/topic/chat/{room}")
    public ChatMessage post(@DestinationVariable String room, Post post, Principal user) {
        checkRoom(room);
        String content = post.content() == null ? "" : post.content();
        if (content.isBlank()) {
            throw new ChatException("the message is empty");
        }
        int chars = content.codePointCount(0, content.length());
        if (chars > CONTENT_MAX) {
            throw new ChatException("the message is too long: " + chars
                    + " characters, at most " + CONTENT_MAX + " are allowed");
        }
        String sender = user != null ? user.getName() : post.sender();
        if (sender == null || sender.isBlank()) {
            throw new ChatException("invalid sender: the message has no `sender`");
        }
        ChatMessage message = new ChatMessage("m" + ids.incrementAndGet(), room, sender, content,
                System.currentTimeMillis());
        Deque<ChatMessage> list = history.computeIfAbsent(room, r -> new ArrayDeque<>());
        synchronized (list) {
            list.addLast(message);
            while (list.size() > HISTORY) {
                list.removeFirst();
            }
        }
        return message;
    }

    @SubscribeMapping("/chat/{room}/history")
    public List<ChatMessage> history(@DestinationVariable String room) {
        checkRoom(room);
        Deque<ChatMessage> list = history.get(room);
        if (list == null) {
            return List.of();
        }
        synchronized (list) {
            return new ArrayList<>(list);
        }
    }

    @MessageExceptionHandler
    @SendToUser(destinations = "/queue/errors", broadcast = false)
    public ErrorReply onError(Exception error) {
        Throwable cause = error;
        while (cause.getCause() != null && !(cause instanceof ChatException)) {
            cause = cause.getCause();
        }
        return new ErrorReply(cause.getMessage());
    }

    private static void checkRoom(String room) {
        if (!ROOM.matcher(room).matches()) {
            throw new ChatException("invalid room name `" + room
                    + "`: use 1 to 32 letters (A-Z, a-z), digits, `_` or `-`");
        }
    }
}

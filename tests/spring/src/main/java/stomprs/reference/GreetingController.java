package stomprs.reference;

import org.springframework.messaging.handler.annotation.MessageMapping;
import org.springframework.messaging.handler.annotation.SendTo;
import org.springframework.stereotype.Controller;
import org.springframework.web.util.HtmlUtils;

/** The Spring guide's controller (gs-messaging-stomp-websocket), without its 1 s sleep. */
@Controller
public class GreetingController {
    /** What the page sends to /app/hello. */
    public record HelloMessage(String name) {}

    /** What /topic/greetings receives. */
    public record Greeting(String content) {}

    @MessageMapping("/hello")
    @SendTo("/topic/greetings")
    public Greeting greeting(HelloMessage message) {
        return new Greeting("Hello, " + HtmlUtils.htmlEscape(message.name()) + "!");
    }
}

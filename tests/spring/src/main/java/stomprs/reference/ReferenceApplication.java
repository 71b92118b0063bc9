package stomprs.reference;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * The Spring reference app: demo-chat's core and the Spring guide's greeting, written the way
 * Spring applications write them. Test and benchmark equipment for stomp-rs.
 */
@SpringBootApplication
public class ReferenceApplication {
    public static void main(String[] args) {
        SpringApplication.run(ReferenceApplication.class, args);
    }
}

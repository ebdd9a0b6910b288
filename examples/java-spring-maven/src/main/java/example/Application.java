package example;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** Spring Boot with Maven: the platform runs the jar with -jar, JAVA_OPTS and server.port=$PORT. */
@SpringBootApplication
@RestController
public class Application {
    @GetMapping("/")
    public String index() {
        return "Hello from java-spring-maven (java " + System.getProperty("java.version") + ")\n";
    }

    public static void main(String[] args) {
        SpringApplication.run(Application.class, args);
    }
}

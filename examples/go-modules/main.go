// A Go service with module dependencies (go.sum): built in its own stage,
// the final image holds the binary only.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/google/uuid"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from go-modules (request %s)\n", uuid.NewString())
	})
	log.Fatal(http.ListenAndServe(":"+port, nil))
}

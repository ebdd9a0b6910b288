// The web server among the repository's commands.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "Hello from go-multi-cmd (cmd/web)")
	})
	log.Fatal(http.ListenAndServe(":"+port, nil))
}

// Command go-stdlib is an app-deployer example: net/http only, on $PORT.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	// The platform sets PORT; 8080 is for running it by hand.
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Hello from go-stdlib")
	})
	log.Printf("go-stdlib listening on %s", port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}

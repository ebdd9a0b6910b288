// A command-line tool: first alphabetically, but it serves nothing.
package main

import "fmt"

func main() {
	fmt.Println("admin: nothing to do")
}

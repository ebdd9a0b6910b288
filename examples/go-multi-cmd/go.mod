module example.com/go-multi-cmd

go 1.22

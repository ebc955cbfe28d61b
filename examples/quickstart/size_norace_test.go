//go:build !race

package main

// The tests run the story at 4 MiB + 1 MiB.
const (
	testSize  = "4MiB"
	testTotal = "5 MiB"
)

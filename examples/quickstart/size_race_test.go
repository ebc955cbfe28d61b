//go:build race

package main

// Under the race detector the story runs smaller: 1 MiB + 256 KiB.
const (
	testSize  = "1MiB"
	testTotal = "1.2 MiB"
)

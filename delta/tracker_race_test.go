//go:build race

package delta

const trackerScale = 1

//go:build race

package checkpoint

// applies is smaller under the race detector, which is ten times slower.
const applies = 10

// randomSteps is smaller under the race detector.
const randomSteps = 30

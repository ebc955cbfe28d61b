// Package checkpointtest is the conformance suite every checkpoint.Store
// implementation passes, and the test primary that feeds it deltas.
//
// # Running the suite
//
// An implementation's tests call Run with a function that returns a fresh,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		checkpointtest.Run(t, func(t *testing.T) checkpoint.Store { ... })
//	}
//
// The suite uses only the Store and Group interfaces and checks every
// point it reads byte for byte against the images the primary had.
//
// # The test primary
//
// Primary holds the volumes of a group in memory, changes them (whole
// blocks, single pages, zeroed blocks, duplicated blocks) and encodes each
// change as a delta stream based on its previous point, remembering every
// point's images. It is meant for tests, not for production.
package checkpointtest

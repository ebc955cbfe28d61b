// Package replicatest helps test code that uses package replica: Clock is
// a fake replica.Clock whose time moves only when the test says so, so
// cycle schedules, back-off and health can be checked exactly without
// sleeping.
//
// # Driving a schedule
//
// Start PrimaryHost.Run with the fake clock, then repeat: wait until the
// schedule has armed its timer (BlockUntil), check when it is due
// (Deadlines), move the time there (Advance or Set), and wait for the
// cycle's outcome (PrimaryConfig.OnCycle). Timers fire on the goroutine
// that moves the time, earliest first, each at its own deadline.
//
// # Not for production
//
// The fake never moves by itself: a program given it would wait forever.
package replicatest

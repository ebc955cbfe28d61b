package replicatest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/replica/replicatest"
)

// A goroutine waits five minutes on the fake clock; the test moves time
// there in one step, without sleeping.
func ExampleClock() {
	clock := replicatest.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	done := make(chan time.Time)
	go func() {
		t := clock.NewTimer(5 * time.Minute)
		done <- <-t.C()
	}()
	clock.BlockUntil(context.Background(), 1) // the goroutine's timer is armed
	fmt.Println("due:", clock.Deadlines()[0].Format(time.Kitchen))
	clock.Advance(5 * time.Minute)
	fmt.Println("fired:", (<-done).Format(time.Kitchen))
	// Output:
	// due: 9:05AM
	// fired: 9:05AM
}

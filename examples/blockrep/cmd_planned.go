package main

import "fmt"

// plannedFailover is "blockrep failover --planned".
func plannedFailover(env *cmdEnv, f *failoverFlags) error {
	return fmt.Errorf("failover --planned: %w", errNotSupported)
}

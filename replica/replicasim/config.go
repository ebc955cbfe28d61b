package replicasim

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Config sizes a Cluster. Zero fields are drawn from Seed, so that a run of
// many seeds covers several shapes.
type Config struct {
	// Seed seeds the cluster: network faults, recovery point ids, and the
	// sizes left zero below.
	Seed uint64
	// Volumes is the number of volumes of the group (0: 1 or 2), at most 8.
	Volumes int
	// VolumeSize is the size of each volume in bytes (0: 64, 128 or
	// 256 KiB), a multiple of BlockSize up to 16 MiB.
	VolumeSize int64
	// BlockSize is the group's block size (0: 4, 8 or 16 KiB), a power of
	// two from 4 KiB to 64 KiB.
	BlockSize int
	// Retention is how many older points the replica keeps, one a minute
	// (0: 0 to 3; negative: none).
	Retention int
	// StageOnDisk makes the replica's store stage every delta on disk
	// instead of in memory (false: drawn from Seed).
	StageOnDisk bool
	// Strict turns on the checks of known open bugs (false: the simulation
	// works around them as an operator would, so that it goes on finding
	// others): "needless-resync" fails when an attempt leaves a replicating
	// relationship ResynchronizationRequired although tracking was not
	// lost (else the next attempt resynchronizes), and "converge" fails
	// when a relationship is ResynchronizationRequired with no point on
	// the replica to resynchronize with (else the volumes are protected
	// anew, as another group), and "forward-committed" fails when a
	// forward reports a point the extended replica does not have (else the
	// extension is stopped and started anew), and "replica-op" fails when
	// StartTestFailover of the latest point fails with
	// checkpoint.ErrUnknownPoint (else it is taken as a refusal), and
	// "downstream-point-kept" is checked (else the convergence checks that
	// the extended replica catches up). See the package's regression tests.
	Strict bool
	// CorruptStreamOnly restricts corruption faults to the frames from the
	// primary longer than 256 bytes — delta stream chunks, which the
	// stream's checksums must catch (false: every frame in both directions,
	// control messages included, which their checksums must catch).
	CorruptStreamOnly bool
	// StepTimeout bounds one step in wall-clock time; a step still running
	// then fails the "liveness" check (0: 20 s).
	StepTimeout time.Duration
	// Logger receives the hosts' logs; nil discards them.
	Logger *slog.Logger
}

// resolve fills the zero fields from the seed and checks the bounds.
func (c Config) resolve() (Config, error) {
	rng := rand.New(rand.NewPCG(c.Seed, 0xc0f1))
	if c.Volumes == 0 {
		c.Volumes = 1 + rng.IntN(2)
	}
	if c.BlockSize == 0 {
		c.BlockSize = 4096 << rng.IntN(3)
	}
	if c.VolumeSize == 0 {
		c.VolumeSize = 64 << 10 << rng.IntN(3)
	}
	if c.Retention == 0 {
		c.Retention = rng.IntN(4)
	} else if c.Retention < 0 {
		c.Retention = 0
	}
	if !c.StageOnDisk {
		c.StageOnDisk = rng.IntN(4) == 0
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = 20 * time.Second
	}
	switch {
	case c.Volumes < 1 || c.Volumes > 8:
		return c, fmt.Errorf("%w: %d volumes, want 1 to 8", ErrConfig, c.Volumes)
	case c.BlockSize < 4096 || c.BlockSize > 64<<10 || c.BlockSize&(c.BlockSize-1) != 0:
		return c, fmt.Errorf("%w: block size %d, want a power of two from 4 KiB to 64 KiB", ErrConfig, c.BlockSize)
	case c.VolumeSize < int64(c.BlockSize) || c.VolumeSize > 16<<20 || c.VolumeSize%int64(c.BlockSize) != 0:
		return c, fmt.Errorf("%w: volume size %d, want a multiple of the block size up to 16 MiB", ErrConfig, c.VolumeSize)
	case c.Retention > 64:
		return c, fmt.Errorf("%w: retention %d, want at most 64", ErrConfig, c.Retention)
	case c.StepTimeout < 0:
		return c, fmt.Errorf("%w: negative step timeout", ErrConfig)
	}
	return c, nil
}

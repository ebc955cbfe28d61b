package replica

import (
	"testing"

	"github.com/blockrep/blockrep/delta"
	"github.com/stretchr/testify/assert"
)

// Every point sent since the last acknowledgement stays recognised, up to
// maxDoubts earlier ones besides the latest; the oldest goes first; and
// none is once inDoubt is cleared (an acknowledged point settled them).
func TestInDoubtPointsBounded(t *testing.T) {
	id := func(n byte) delta.PointID { return delta.PointID{0: n, 15: 1} }
	var r Relationship
	assert.False(t, r.inDoubtLocked(id(1)))
	for n := byte(1); n <= maxDoubts+2; n++ {
		r.doubtLocked(id(n))
	}
	assert.False(t, r.inDoubtLocked(id(1)), "the oldest beyond the bound is forgotten")
	for n := byte(2); n <= maxDoubts+2; n++ {
		assert.True(t, r.inDoubtLocked(id(n)), "point %d", n)
	}
	assert.Len(t, r.doubts, maxDoubts)
	assert.False(t, r.inDoubtLocked(delta.PointID{}))

	r.inDoubt = delta.PointID{} // an acknowledgement settles them all
	assert.False(t, r.inDoubtLocked(id(5)))
	r.doubtLocked(id(20))
	assert.Empty(t, r.doubts)
	assert.True(t, r.inDoubtLocked(id(20)))
	assert.False(t, r.inDoubtLocked(id(5)))
}

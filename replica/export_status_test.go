package replica

import "github.com/blockrep/blockrep/delta"

// StatusWithLatestForTest returns frame re-encoded with its Latest point
// replaced by p (and one point in the chain) when frame is a Status, as a
// damaged answer would carry it; ok is false for any other frame.
func StatusWithLatestForTest(frame []byte, p delta.PointID) (out []byte, ok bool) {
	m, err := decodeMessage(frame)
	if err != nil {
		return nil, false
	}
	st, ok := m.(statusMsg)
	if !ok {
		return nil, false
	}
	st.Latest, st.Points = p, 1
	return appendMessage(nil, st), true
}

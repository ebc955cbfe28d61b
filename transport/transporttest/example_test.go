package transporttest_test

import (
	"bytes"
	"fmt"

	"github.com/blockrep/blockrep/transport/transporttest"
)

// Fill gives the same bytes for the same offset however the stream is cut.
func ExampleFill() {
	whole := make([]byte, 32)
	transporttest.Fill(whole, 0)
	second := make([]byte, 16)
	transporttest.Fill(second, 16)
	fmt.Println(bytes.Equal(whole[16:], second))
	// Output:
	// true
}

package transfer

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"testing"
	"testing/iotest"
)

// TestReadAhead: the bytes come through unchanged in reads of odd sizes (chunks reused),
// and the source's error arrives after all the data before it.
func TestReadAhead(t *testing.T) {
	data := randomData(5<<20 + 333)
	bad := errors.New("hash mismatch")
	src := io.MultiReader(iotest.HalfReader(bytes.NewReader(data)), iotest.ErrReader(bad))
	ra := NewReadAhead(src, 64<<10, 4)
	defer ra.Close()
	var got bytes.Buffer
	buf := make([]byte, 40000)
	var err error
	for err == nil {
		var n int
		n, err = ra.Read(buf)
		got.Write(buf[:n])
	}
	if !errors.Is(err, bad) {
		t.Errorf("error %v, want the source's", err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Errorf("got %d bytes, not the %d of the source", got.Len(), len(data))
	}
	if _, err := ra.Read(buf); !errors.Is(err, bad) {
		t.Errorf("read after the error: %v", err)
	}
}

func randomData(n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(1)).Read(b)
	return b
}

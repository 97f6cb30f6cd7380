package gang

import (
	"reflect"
	"testing"
)

// FuzzDecodeReservation: Decode never panics, and whatever it accepts
// encodes to a canonical form that decodes to the same reservation and
// encodes to itself again.
func FuzzDecodeReservation(f *testing.F) {
	for _, s := range []string{
		"zone=zone-b;cpu=1;memory=1408Mi;nodes=n1:2,n2:2;expires=2026-01-02T15:04:05Z",
		"expires=2026-01-02T16:04:05.9+01:00;nodes=n1:2;memory=1476395008;cpu=0.0001;zone=",
		"zone=;cpu=1e3;memory=1.5;nodes=;expires=0001-01-01T00:00:00Z",
		"zone=a;cpu=1;memory=1;nodes=a.b-c:65536;expires=9999-12-31T23:59:59-01:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := DecodeReservation(s)
		if err != nil {
			return
		}
		enc := r.Encode()
		r2, err := DecodeReservation(enc)
		if err != nil {
			t.Fatalf("Decode(%q) -> Encode %q does not decode: %v", s, enc, err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip of %q: %+v != %+v", s, r, r2)
		}
		if enc2 := r2.Encode(); enc2 != enc {
			t.Fatalf("Encode not canonical: %q then %q", enc, enc2)
		}
	})
}

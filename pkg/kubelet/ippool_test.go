package kubelet

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
)

func TestIPPool(t *testing.T) {
	p := NewIPPool()
	a, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddr("127.1.0.1"); a != want {
		t.Errorf("first address %s, want %s", a, want)
	}
	b, _ := p.Allocate()
	if b == a {
		t.Errorf("second address %s equals the first", b)
	}
	// A released address is not handed out again at once (round-robin).
	p.Release(a)
	c, _ := p.Allocate()
	if c == a {
		t.Errorf("released %s handed out again immediately", a)
	}
	if p.InUse() != 2 {
		t.Errorf("InUse %d, want 2", p.InUse())
	}
	p.Release(netip.MustParseAddr("10.0.0.1")) // not from the pool: no-op
	if p.InUse() != 2 {
		t.Errorf("InUse %d after releasing a foreign address, want 2", p.InUse())
	}
}

func TestIPPoolExhaustionAndRange(t *testing.T) {
	p := NewIPPool()
	prefix := netip.MustParsePrefix("127.1.0.0/16")
	seen := map[netip.Addr]bool{}
	for {
		a, err := p.Allocate()
		if errors.Is(err, ErrNoIPs) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("address %s handed out twice", a)
		}
		seen[a] = true
		last := a.As4()[3]
		if !prefix.Contains(a) || last == 0 || last == 255 || a == netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("address %s outside 127.1.x.1-254", a)
		}
	}
	if want := 256 * 254; len(seen) != want {
		t.Errorf("pool held %d addresses, want %d", len(seen), want)
	}
	a := netip.MustParseAddr("127.1.7.7")
	p.Release(a)
	if got, err := p.Allocate(); err != nil || got != a {
		t.Errorf("after release: %s, %v; want %s", got, err, a)
	}
}

func TestIPPoolConcurrent(t *testing.T) {
	p := NewIPPool()
	var mu sync.Mutex
	seen := map[netip.Addr]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				a, err := p.Allocate()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[a] {
					t.Errorf("%s allocated twice", a)
				}
				seen[a] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if p.InUse() != 800 {
		t.Errorf("InUse %d, want 800", p.InUse())
	}
}

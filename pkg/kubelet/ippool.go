package kubelet

import (
	"errors"
	"net/netip"
	"sync"
)

// ErrNoIPs is returned by IPPool.Allocate when every address is in use.
var ErrNoIPs = errors.New("no free pod IP in 127.1.0.0/16")

// IPPool hands out distinct loopback addresses to pods: 127.1.0.1 to
// 127.1.255.254, skipping .0 and .255 in the last octet (they read like
// network and broadcast addresses) and never 127.0.0.1, so each pod binds
// its ports on an address of its own, as in a pod network. Linux routes all
// of 127.0.0.0/8 to the loopback interface, so nothing needs configuring.
//
// Addresses are handed out round-robin rather than lowest-free, so a
// released address is not reused at once while peers may still have it in
// their caches. An IPPool is safe for concurrent use; one pool is shared by
// all kubelets of a cluster.
type IPPool struct {
	mu    sync.Mutex
	inUse map[netip.Addr]bool
	next  uint32 // offset from poolBase of the next candidate
}

const poolSize = 1 << 16

// NewIPPool returns an empty pool.
func NewIPPool() *IPPool {
	return &IPPool{inUse: map[netip.Addr]bool{}, next: 1}
}

func poolAddr(off uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 1, byte(off >> 8), byte(off)})
}

func usable(off uint32) bool {
	last := byte(off)
	return last != 0 && last != 255
}

// Allocate returns a free address and marks it in use.
func (p *IPPool) Allocate() (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := uint32(0); i < poolSize; i++ {
		off := (p.next + i) % poolSize
		if !usable(off) {
			continue
		}
		a := poolAddr(off)
		if p.inUse[a] {
			continue
		}
		p.inUse[a] = true
		p.next = (off + 1) % poolSize
		return a, nil
	}
	return netip.Addr{}, ErrNoIPs
}

// Release returns a to the pool. Releasing an address that is not in use
// does nothing.
func (p *IPPool) Release(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.inUse, a)
}

// InUse reports how many addresses are allocated.
func (p *IPPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inUse)
}

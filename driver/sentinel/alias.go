package sentinel

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// lookupTimeout bounds the look-up of the host names of Config.Sentinels (see
// aliasesFor), within learn's own bound: a slow resolver delays a (re)connect by
// this at most, once per refreshEvery.
const lookupTimeout = 500 * time.Millisecond

// aliasesFor makes sure that the addresses of found that are not in the list are
// checked against the host names of Config.Sentinels: if one is not known for the
// entry it is, the names are looked up again (all at once, within lookupTimeout),
// unless they were less than refreshEvery ago. Nothing is looked up while every
// address is known, nor without host names (sentinels given by IP, unix sockets).
// A name whose look-up fails keeps the addresses it had; until it resolves, the
// sentinel may be listed twice, as if it had no name.
func (w *watcher) aliasesFor(ctx context.Context, found []string) {
	w.mu.Lock()
	var names []string
	for _, x := range w.cfg.Sentinels {
		if host, _, err := net.SplitHostPort(x); err == nil && net.ParseIP(host) == nil {
			names = append(names, x)
		}
	}
	unknown := false
	for _, a := range found {
		if !slices.Contains(w.sentinels, a) && w.aliasLocked(a) == "" {
			unknown = true
		}
	}
	due := w.looked.IsZero() || time.Since(w.looked) >= w.refreshEvery
	w.mu.Unlock()
	if len(names) == 0 || !unknown || !due {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs := make([][]string, len(names))
	var wg sync.WaitGroup
	for i, x := range names {
		wg.Add(1)
		go func() { // each returns when ctx ends: none outlives aliasesFor
			defer wg.Done()
			host, port, _ := net.SplitHostPort(x)
			ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
			if err != nil {
				return
			}
			for _, ip := range ips {
				addrs[i] = append(addrs[i], addrOf(ip.IP.String(), port))
			}
		}()
	}
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.looked = time.Now()
	for i, x := range names {
		if addrs[i] != nil {
			w.resolved[x] = addrs[i]
		}
	}
}

// aliasLocked returns the entry of Config.Sentinels, given by host name, that the
// address a is (see resolved), or "". If several names resolve to a, the first
// configured is taken.
func (w *watcher) aliasLocked(a string) string {
	for _, x := range w.cfg.Sentinels {
		if slices.Contains(w.resolved[x], a) {
			return x
		}
	}
	return ""
}

// addrOf joins host and port the way the watcher spells every address it compares
// (the list of sentinels, the master a sentinel names, the aliases of host names):
// an IP in its canonical form (IPv6 compressed, in lower case; an IPv4-mapped IPv6
// address as IPv4), a host name as it is. A sentinel configured as "[::ffff:10.0.0.5]:26379"
// and reported by the others as "10.0.0.5:26379" is then one sentinel, not two.
func addrOf(host, port string) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	}
	return net.JoinHostPort(host, port)
}

// canonAddr is addrOf for a "host:port"; anything else (a unix socket) is returned
// as it is.
func canonAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	return addrOf(host, port)
}

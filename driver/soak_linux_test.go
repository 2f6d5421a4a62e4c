package driver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respring/respring/internal/faultproxy"
	"github.com/respring/respring/internal/redistest"
	"github.com/respring/respring/parser"
)

// TestSoak is a chaos soak: PairedConns (plain and TLS) and PubsubConns through fault
// proxies, a mix of commands from many goroutines, and faults injected at random (RST
// at a byte offset, stalls, blackholes, delays, drips, narrow buffers, refused dials,
// CLIENT KILL). It checks that every reply is its command's, that every error is one a
// broken connection may cause, that no call outlives its deadline by more than a
// grace, that everything works again once the faults stop, that no link touches its
// session after lost, and that nothing leaks. It runs only with RESPRING_SOAK set to
// a duration (RESPRING_SOAK=3m); RESPRING_SOAK_SEED fixes the random choices (the
// timing of the faults is not reproducible anyway).
func TestSoak(t *testing.T) {
	env := os.Getenv("RESPRING_SOAK")
	if env == "" {
		t.Skip("set RESPRING_SOAK to a duration (e.g. 3m) to run the chaos soak")
	}
	dur, err := time.ParseDuration(env)
	if err != nil {
		t.Fatalf("RESPRING_SOAK=%q: %v", env, err)
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("RESPRING_SOAK_SEED"); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("RESPRING_SOAK_SEED=%q: %v", v, err)
		}
	}
	t.Logf("soak: %v, seed %d (RESPRING_SOAK_SEED=%d)", dur, seed, seed)
	checkGoroutines(t)

	s := &soak{
		t:        t,
		start:    time.Now(),
		ops:      map[string]int{},
		errs:     map[string]int{},
		samples:  map[string][]string{},
		inflight: map[int64]*soakOp{},
		pubs:     map[string]*soakPub{},
		linkOf:   map[string]*link{},
		finals:   map[string]chan struct{}{},
	}

	// Servers: a plain one, and a TLS one (also listening in plain text, for the
	// admin connection).
	plainSrv := startServer(t)
	certs := redistest.NewCerts(t)
	tlsSrv, tlsAddr := redistest.StartTLS(t, certs, "no")
	tlsCfg := func() *tls.Config { return &tls.Config{RootCAs: certs.CAPool, ServerName: "127.0.0.1"} }

	stale := watchSessions(t)
	// Tap the links of the PubsubConns: which link delivered each message (see
	// soak.received).
	prev := newLinkHook.Load()
	tap := func(l *link) {
		if prev != nil {
			(*prev)(l)
		}
		if w, ok := l.sess.(*sessionWatch); ok {
			if _, ok := w.session.(*PubsubConn); ok {
				pt := &soakPubTap{session: l.sess, l: l, s: s}
				l.sess, l.deliver = pt, pt.deliver
			}
		}
	}
	newLinkHook.Store(&tap)
	t.Cleanup(func() { newLinkHook.Store(prev) })

	pxPlain := faultproxy.Start(t, plainSrv.Addr)
	pxTLS := faultproxy.Start(t, tlsAddr)
	pxPubPlain := faultproxy.Start(t, plainSrv.Addr)
	pxPubTLS := faultproxy.Start(t, tlsAddr)

	base := Config{ReconnectMin: 2 * time.Millisecond, ReconnectMax: 50 * time.Millisecond}
	var conns []*soakConn
	for i, hc := range []time.Duration{300 * time.Millisecond, 500 * time.Millisecond} {
		cfg := base
		cfg.Addr, cfg.HealthCheck = pxPlain.Addr, hc
		conns = append(conns, &soakConn{name: "plain" + strconv.Itoa(i), server: "plain", c: pairedTo(t, nil, cfg)})
	}
	for i, hc := range []time.Duration{400 * time.Millisecond, 300 * time.Millisecond} {
		cfg := base
		cfg.Addr, cfg.HealthCheck, cfg.TLS = pxTLS.Addr, hc, tlsCfg()
		conns = append(conns, &soakConn{name: "tls" + strconv.Itoa(i), server: "tls", c: pairedTo(t, nil, cfg)})
	}
	for _, sc := range conns {
		t.Cleanup(func() { sc.c.Close() })
	}
	pubCfgPlain := base
	pubCfgPlain.Addr, pubCfgPlain.HealthCheck = pxPubPlain.Addr, 400*time.Millisecond
	pubCfgTLS := base
	pubCfgTLS.Addr, pubCfgTLS.HealthCheck, pubCfgTLS.TLS = pxPubTLS.Addr, 400*time.Millisecond, tlsCfg()
	pubsubs := map[string]*PubsubConn{
		"plain": pubsubConnect(t, testCtx(t, 10*time.Second), pubCfgPlain),
		"tls":   pubsubConnect(t, testCtx(t, 10*time.Second), pubCfgTLS),
	}
	var recvWG sync.WaitGroup
	subs := map[string]*Subscription{}
	for _, server := range []string{"plain", "tls"} {
		sub, err := pubsubs[server].Subscribe(testCtx(t, 10*time.Second), soakChannel)
		if err != nil {
			t.Fatalf("Subscribe (%s): %v", server, err)
		}
		subs[server] = sub
		recvWG.Add(1)
		go func() {
			defer recvWG.Done()
			for m := range sub.Messages() {
				s.received(server, m)
			}
		}()
	}

	targets := []*soakTarget{
		{name: "px-plain", px: pxPlain, srv: plainSrv},
		{name: "px-tls", px: pxTLS, srv: tlsSrv},
		{name: "px-pub-plain", px: pxPubPlain, srv: plainSrv, ps: pubsubs["plain"]},
		{name: "px-pub-tls", px: pxPubTLS, srv: tlsSrv, ps: pubsubs["tls"]},
	}

	// The hang watch.
	watchDone := make(chan struct{})
	var watchWG sync.WaitGroup
	watchWG.Add(1)
	go func() {
		defer watchWG.Done()
		s.watchHangs(watchDone)
	}()

	// Workers.
	var workWG sync.WaitGroup
	wid := 0
	for _, sc := range conns {
		for i := range 3 {
			w := &soakWorker{
				s:       s,
				sc:      sc,
				id:      sc.name + ".w" + strconv.Itoa(i),
				rng:     rand.New(rand.NewPCG(seed, uint64(wid))),
				lastInc: -1 << 62,
				lastDed: -1 << 62,
			}
			w.incrKey = "soak:incr:" + w.id
			w.dedKey = "soak:ded:" + w.id
			w.pub = s.addPub(w.id, sc.server)
			wid++
			workWG.Add(1)
			go func() {
				defer workWG.Done()
				w.loop()
			}()
		}
	}

	// Chaos.
	var chaosWG sync.WaitGroup
	chaosWG.Add(1)
	go func() {
		defer chaosWG.Done()
		s.chaos(rand.New(rand.NewPCG(seed, 1<<32)), targets, conns)
	}()

	end := time.Now().Add(dur)
	for time.Now().Before(end) && !s.stop.Load() {
		time.Sleep(100 * time.Millisecond)
	}
	s.stop.Store(true)
	chaosWG.Wait() // also waits for the pending restores
	for _, tg := range targets {
		tg.px.Resume()
		tg.px.Delay(0)
		tg.px.Drip(0)
		tg.px.Refuse(false)
	}
	t.Logf("soak: faults stopped after %v; %d faults injected", time.Since(s.start).Round(time.Millisecond), s.faults.Load())

	if !waitGroupWithin(&workWG, soakOpTimeout+soakGrace+30*time.Second) {
		s.dump("workers did not stop")
		s.problem("workers did not stop within %v of the end of the faults", soakOpTimeout+soakGrace+30*time.Second)
		close(watchDone)
		s.report()
		t.FailNow()
	}

	// Every connection works again.
	for _, sc := range conns {
		s.recover(sc)
	}
	for _, server := range []string{"plain", "tls"} {
		s.recoverPubsub(server, conns)
	}
	close(watchDone)
	watchWG.Wait()

	// Close returns.
	for _, sc := range conns {
		s.closeWithin(sc.name, sc.c.Close)
	}
	for server, ps := range pubsubs {
		s.closeWithin("pubsub-"+server, ps.Close)
	}
	if !waitGroupWithin(&recvWG, 10*time.Second) {
		s.problem("subscription channels not closed 10s after Close")
	} else {
		for server, sub := range subs {
			if err := sub.Err(); !errors.Is(err, ErrClosed) {
				s.problem("subscription (%s) ended with %v, want ErrClosed after Close", server, err)
			}
		}
	}
	if st := stale(); len(st) > 0 {
		s.problem("session calls after lost: %v", st)
	}
	for _, tg := range targets {
		t.Logf("soak: %s: %d connections still open through it (blackholed ones stay until it closes)", tg.name, tg.px.Conns())
	}
	s.report()
}

const (
	soakOpTimeout = 5 * time.Second
	soakGrace     = 5 * time.Second
	soakChannel   = "soak:ch"
)

type soak struct {
	t      *testing.T
	start  time.Time
	stop   atomic.Bool
	faults atomic.Int64

	mu       sync.Mutex
	ops      map[string]int
	errs     map[string]int
	samples  map[string][]string
	problems []string

	opMu     sync.Mutex
	opSeq    int64
	inflight map[int64]*soakOp
	dumped   atomic.Bool

	pubMu  sync.Mutex
	pubs   map[string]*soakPub
	linkOf map[string]*link // payload -> the link that delivered it
	finals map[string]chan struct{}
	gotMsg map[string]int // messages received per server
	unseen int            // messages received whose link was not tapped
	// sameLink counts the messages checked for gaps against an earlier one of the
	// same link; late, those received out of order (their PUBLISH failed).
	sameLink, late int
}

type soakConn struct {
	name, server string
	c            *PairedConn
}

type soakTarget struct {
	name string
	px   *faultproxy.Proxy
	srv  *redistest.Server
	ps   *PubsubConn // the PubsubConn behind px, if any
}

type soakOp struct {
	desc         string
	start, limit time.Time
}

// soakPubTap records which link delivered each pub/sub message.
type soakPubTap struct {
	session
	l *link
	s *soak
}

func (p *soakPubTap) deliver(v parser.Value) error {
	p.s.tap(p.l, v)
	return p.session.deliver(v)
}

func (p *soakPubTap) deliverOwned(v parser.Value, buf []byte) (bool, error) {
	p.s.tap(p.l, v)
	return p.session.deliverOwned(v, buf)
}

func (s *soak) tap(l *link, v parser.Value) {
	if v.Kind() != parser.Push && v.Kind() != parser.Array {
		return
	}
	e := v.Elems()
	if len(e) != 3 || !strings.EqualFold(e[0].Text(), "message") {
		return
	}
	s.pubMu.Lock()
	s.linkOf[e[2].Text()] = l
	s.pubMu.Unlock()
}

// problem records a failed check (a possible driver bug).
func (s *soak) problem(format string, args ...any) {
	msg := fmt.Sprintf("[%v] ", time.Since(s.start).Round(time.Millisecond)) + fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.problems = append(s.problems, msg)
	n := len(s.problems)
	s.mu.Unlock()
	if n <= 50 {
		s.t.Log("soak PROBLEM: " + msg)
	}
}

func (s *soak) count(op string) {
	s.mu.Lock()
	s.ops[op]++
	s.mu.Unlock()
}

// errKind classifies an error, and reports whether a broken connection (or a ctx
// that ended) may cause it.
func errKind(err error) (string, bool) {
	var re *RedisError
	var te *TxError
	switch {
	case errors.Is(err, ErrConnLost) && errors.Is(err, ErrHealthCheck):
		return "ErrConnLost(health check)", true
	case errors.Is(err, ErrConnLost):
		return "ErrConnLost", true
	case errors.Is(err, ErrHealthCheck):
		return "ErrHealthCheck not in ErrConnLost", false
	case errors.Is(err, context.DeadlineExceeded):
		return "context deadline", true
	case errors.Is(err, context.Canceled):
		return "context canceled", true
	case errors.Is(err, ErrClosed):
		return "ErrClosed", true
	case errors.As(err, &te):
		return "TxError", false
	case errors.As(err, &re):
		return "RedisError " + re.Code(), false
	case errors.Is(err, ErrNil):
		return "ErrNil", false
	case errors.Is(err, ErrExpired):
		return "ErrExpired", false
	case errors.Is(err, ErrProtocol):
		return "ErrProtocol", false
	}
	return fmt.Sprintf("other %T", err), false
}

// failed counts err, an error of op, and records a problem for one that no broken
// connection explains.
func (s *soak) failed(op, who string, err error) {
	kind, ok := errKind(err)
	s.mu.Lock()
	s.errs[kind]++
	if len(s.samples[kind]) < 3 && !slices.Contains(s.samples[kind], err.Error()) {
		s.samples[kind] = append(s.samples[kind], err.Error())
	}
	s.mu.Unlock()
	if !ok {
		s.problem("%s on %s: unexpected error %q (%T, kind %s)", op, who, err.Error(), err, kind)
	}
}

// track registers an op running until limit (plus the grace) for the hang watch.
func (s *soak) track(desc string, limit time.Time) int64 {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.opSeq++
	s.inflight[s.opSeq] = &soakOp{desc: desc, start: time.Now(), limit: limit}
	return s.opSeq
}

func (s *soak) untrack(id int64) {
	s.opMu.Lock()
	delete(s.inflight, id)
	s.opMu.Unlock()
}

// watchHangs reports every op running past its deadline plus the grace, with a
// goroutine dump (once), and stops the soak. An op counts as hung only when it is
// still overdue a second after the watch first found it so, with no stall of the
// watch in between: a process starved of the CPU (two cores, -race, a build beside
// it) runs timers, the watch and the woken callers late, and the watch, woken first,
// would take an op whose ctx had just ended, its caller runnable, for a hung one.
func (s *soak) watchHangs(done chan struct{}) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	reported := map[int64]bool{}
	overdue := map[int64]time.Time{} // when the watch first found the op overdue
	last := time.Now()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		now := time.Now()
		if now.Sub(last) > time.Second {
			// The watch itself ran late: look again after the others ran.
			s.t.Logf("soak: the hang watch ran %v late", (now.Sub(last) - 200*time.Millisecond).Round(time.Millisecond))
			clear(overdue)
			last = now
			continue
		}
		last = now
		var hung []string
		s.opMu.Lock()
		for id := range overdue {
			if s.inflight[id] == nil {
				delete(overdue, id)
			}
		}
		for id, op := range s.inflight {
			if !now.After(op.limit.Add(soakGrace)) || reported[id] {
				continue
			}
			first, ok := overdue[id]
			if !ok {
				overdue[id] = now
				continue
			}
			if now.Sub(first) < time.Second {
				continue
			}
			reported[id] = true
			hung = append(hung, fmt.Sprintf("%s: running for %v (deadline %v after its start)",
				op.desc, now.Sub(op.start).Round(time.Millisecond), op.limit.Sub(op.start).Round(time.Millisecond)))
		}
		s.opMu.Unlock()
		for _, h := range hung {
			s.problem("hang: %s", h)
		}
		if len(hung) > 0 {
			s.dump("hang")
			s.stop.Store(true)
		}
	}
}

// dump logs every goroutine's stack (once), and writes it to a file.
func (s *soak) dump(why string) {
	if s.dumped.Swap(true) {
		return
	}
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 2)
	path := filepath.Join(os.TempDir(), fmt.Sprintf("respring-soak-%s-%d.txt", strings.ReplaceAll(why, " ", "-"), time.Now().Unix()))
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err == nil {
		s.t.Logf("soak: goroutine dump (%s) written to %s", why, path)
	}
	out := buf.String()
	if len(out) > 400<<10 {
		out = out[:400<<10] + "\n... (truncated)"
	}
	s.t.Logf("soak: goroutine dump (%s):\n%s", why, out)
}

// run runs one op with a ctx of soakOpTimeout, watched for hangs.
func (s *soak) run(op, who string, fn func(ctx context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), soakOpTimeout)
	defer cancel()
	dl, _ := ctx.Deadline()
	id := s.track(op+" on "+who, dl)
	fn(ctx)
	s.untrack(id)
	s.count(op)
}

// Chaos.

func (s *soak) chaos(rng *rand.Rand, targets []*soakTarget, conns []*soakConn) {
	var restores sync.WaitGroup
	defer restores.Wait()
	later := func(d time.Duration, fn func()) {
		restores.Add(1)
		go func() {
			defer restores.Done()
			time.Sleep(d)
			fn()
		}()
	}
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Millisecond }
	for !s.stop.Load() {
		time.Sleep(ms(50, 500))
		if s.stop.Load() {
			return
		}
		// The proxies of the PairedConns carry more: they get more faults.
		tg := targets[[]int{0, 0, 0, 1, 1, 1, 2, 3}[rng.IntN(8)]]
		px := tg.px
		s.faults.Add(1)
		var fault string
		switch rng.IntN(10) {
		case 0, 1:
			off := int64(rng.IntN(64))
			if rng.IntN(4) == 0 {
				off = int64(rng.IntN(256 << 10))
			}
			fault = "reset@" + strconv.FormatInt(off, 10)
			px.ResetAt(off)
		case 2:
			d := ms(50, 1200)
			fault = "stall " + d.String()
			px.Stall()
			later(d, px.Resume)
		case 3:
			d := ms(600, 2000)
			fault = "blackhole " + d.String()
			px.Blackhole()
			if tg.ps != nil {
				// A PubsubConn has no health check: it is told (as a user whose
				// subscriber went quiet would).
				ps := tg.ps
				later(d, ps.Reconnect)
			}
		case 4:
			d, per := ms(200, 1500), ms(5, 150)
			fault = "delay " + per.String() + " for " + d.String()
			px.Delay(per)
			later(d, func() { px.Delay(0) })
		case 5:
			d := ms(50, 300)
			per := time.Duration(200+rng.IntN(1800)) * time.Microsecond
			fault = "drip " + per.String() + " for " + d.String()
			px.Drip(per)
			later(d, func() { px.Drip(0) })
		case 6:
			n := 4<<10 + rng.IntN(60<<10)
			fault = "narrow " + strconv.Itoa(n)
			px.Narrow(n)
		case 7:
			d := ms(100, 800)
			fault = "refuse " + d.String()
			px.Refuse(true)
			later(d, func() { px.Refuse(false) })
		case 8:
			fault = "CLIENT KILL TYPE normal"
			if v, err := tg.srv.Do("CLIENT", "KILL", "TYPE", "normal"); err != nil || v.IsError() {
				s.t.Logf("soak: CLIENT KILL TYPE normal: %v %v", v, err)
			}
		case 9:
			fault = "CLIENT KILL TYPE pubsub"
			if v, err := tg.srv.Do("CLIENT", "KILL", "TYPE", "pubsub"); err != nil || v.IsError() {
				s.t.Logf("soak: CLIENT KILL TYPE pubsub: %v %v", v, err)
			}
		}
		kind, _, _ := strings.Cut(strings.Fields(fault)[0], "@")
		if fault == "CLIENT KILL TYPE pubsub" {
			kind = "kill-pubsub"
		} else if kind == "CLIENT" {
			kind = "kill-normal"
		}
		s.count("fault " + kind + " " + tg.name)
	}
}

// The end.

// recover checks that sc works again once the faults stopped: an ECHO gets through
// within 20 s (the health check, or TCP_USER_TIMEOUT under a large write to a
// blackhole, ends a dead connection), then a round of every kind of call succeeds.
func (s *soak) recover(sc *soakConn) {
	c := sc.c
	began := time.Now()
	deadline := began.Add(20 * time.Second)
	id := s.track("recovery of "+sc.name, deadline)
	defer s.untrack(id)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		tok := "soak:final:" + sc.name
		v, err := c.Do(ctx, "ECHO", tok)
		cancel()
		if err == nil && v.Text() == tok {
			last = nil
			break
		}
		if err == nil {
			s.problem("recovery of %s: ECHO %q answered %v %q", sc.name, tok, v.Kind(), v.Text())
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	if last != nil {
		s.problem("recovery of %s: no ECHO through within 20s after the faults stopped: %v", sc.name, last)
		return
	}
	took := time.Since(began)
	s.t.Logf("soak: %s answers again %v after the faults stopped (%d reconnects, %d forgotten errors)", sc.name, took.Round(time.Millisecond), c.Reconnects(), c.ForgottenErrors())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	check := func(what string, err error) {
		if err != nil {
			s.problem("recovery of %s: %s: %v", sc.name, what, err)
		}
	}
	v, err := c.Do(ctx, "PING")
	if err == nil && v.Text() != "PONG" {
		err = fmt.Errorf("PING answered %v %q", v.Kind(), v.Text())
	}
	check("PING", err)
	key := "soak:final:k:" + sc.name
	check("SET", c.Send("SET", key, "v").Err(ctx))
	got, err := c.Send("GET", key).String(ctx)
	if err == nil && got != "v" {
		err = fmt.Errorf("GET answered %q", got)
	}
	check("GET", err)
	v, err = c.Do(ctx, "BLPOP", "soak:final:empty:"+sc.name, "0.1")
	if err == nil && !v.IsNull() {
		err = fmt.Errorf("BLPOP answered %v", v)
	}
	check("BLPOP", err)
	var b Batch
	b.Queue("ECHO", "a")
	b.Queue("ECHO", "b")
	for i, f := range c.SendTx(nil, &b) {
		got, err := f.String(ctx)
		if want := string(rune('a' + i)); err == nil && got != want {
			err = fmt.Errorf("part %d answered %q, want %q", i, got, want)
		}
		check("SendTx", err)
	}
	check("Dedicated", c.Dedicated(ctx, func(d *DedicatedConn) error {
		v, err := d.Do(ctx, "ECHO", "ded")
		if err == nil && v.Text() != "ded" {
			err = fmt.Errorf("ECHO answered %v %q", v.Kind(), v.Text())
		}
		return err
	}))
}

// recoverPubsub checks that the subscription of server receives again: a message
// published (through a PairedConn to that server) is received within 20 s.
func (s *soak) recoverPubsub(server string, conns []*soakConn) {
	var c *PairedConn
	for _, sc := range conns {
		if sc.server == server {
			c = sc.c
		}
	}
	began := time.Now()
	deadline := began.Add(20 * time.Second)
	id := s.track("pubsub recovery of "+server, deadline)
	defer s.untrack(id)
	for i := 0; time.Now().Before(deadline); i++ {
		payload := "final|" + server + "|" + strconv.Itoa(i)
		ch := make(chan struct{})
		s.pubMu.Lock()
		s.finals[payload] = ch
		s.pubMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.Do(ctx, "PUBLISH", soakChannel, payload)
		cancel()
		if err == nil {
			select {
			case <-ch:
				s.t.Logf("soak: pubsub %s receives again %v after the faults stopped", server, time.Since(began).Round(time.Millisecond))
				return
			case <-time.After(200 * time.Millisecond):
			}
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	s.problem("pubsub recovery of %s: no message received within 20s after the faults stopped", server)
}

func (s *soak) closeWithin(name string, closeFn func() error) {
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- closeFn() }()
	select {
	case err := <-done:
		if err != nil {
			s.problem("Close of %s: %v", name, err)
		}
		if d := time.Since(began); d > 2*time.Second {
			s.t.Logf("soak: Close of %s took %v", name, d)
		}
	case <-time.After(30 * time.Second):
		s.problem("Close of %s did not return within 30s", name)
		s.dump("close")
	}
}

func waitGroupWithin(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// report logs the counts and fails the test for every problem.
func (s *soak) report() {
	s.pubMu.Lock()
	s.t.Logf("soak: pubsub messages received: %v (%d not seen by the tap, %d checked for gaps on their link, %d late ones of failed PUBLISHes)", s.gotMsg, s.unseen, s.sameLink, s.late)
	s.pubMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var sb strings.Builder
	total := 0
	for _, k := range sortedKeys(s.ops) {
		if !strings.HasPrefix(k, "fault ") {
			total += s.ops[k]
		}
		fmt.Fprintf(&sb, "\n  %-34s %d", k, s.ops[k])
	}
	s.t.Logf("soak: %d ops in %v:%s", total, time.Since(s.start).Round(time.Millisecond), sb.String())
	sb.Reset()
	for _, k := range sortedKeys(s.errs) {
		fmt.Fprintf(&sb, "\n  %-34s %d  e.g. %q", k, s.errs[k], s.samples[k])
	}
	s.t.Logf("soak: errors by kind:%s", sb.String())
	for _, p := range s.problems {
		s.t.Error(p)
	}
	if len(s.problems) > 0 {
		s.t.Errorf("soak: %d problems", len(s.problems))
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

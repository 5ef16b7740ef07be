package pgstore

import (
	"context"
	"strconv"
	"time"
)

// changed tells local watchers at once and asks the notifier to tell other
// processes.
func (s *Store) changed() {
	s.watch.Notify()
	select {
	case s.notifyCh <- struct{}{}:
	default:
	}
}

// notifier sends one NOTIFY for any number of appends made while the
// previous one was on its way. It runs outside the append transactions:
// NOTIFY inside them would serialize their commits on the notification
// queue's lock.
func (s *Store) notifier() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.notifyCh:
		}
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, strconv.FormatUint(s.lastAppended.Load(), 10))
		cancel()
		if err != nil && s.ctx.Err() == nil {
			s.cfg.Logger.Debug("pgstore: notify failed", "err", err)
		}
	}
}

// listen holds a connection that LISTENs for other processes' appends and
// wakes the watchers on each notification, once the $all horizon has passed
// the position the notification announces (so that a woken reader sees the
// events), and after every reconnect (what was notified while it was away is
// read, not remembered: watchers read from their own position).
func (s *Store) listen() {
	defer s.wg.Done()
	backoff := 10 * time.Millisecond
	for s.ctx.Err() == nil {
		err := s.listenOnce()
		if s.ctx.Err() != nil {
			return
		}
		s.cfg.Logger.Warn("pgstore: LISTEN connection lost; reconnecting", "err", err, "after", backoff)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *Store) listenOnce() error {
	conn, err := s.pool.Acquire(s.ctx)
	if err != nil {
		return err
	}
	// The connection leaves the pool for good: it is dedicated to LISTEN.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(s.ctx, `LISTEN `+s.channel); err != nil {
		return err
	}
	// Anything appended while no one listened is at or below the
	// sequence's value now: wake the watchers once the horizon passes it.
	var hi int64
	var called bool
	if err := pc.QueryRow(s.ctx, `SELECT last_value, is_called FROM `+s.cfg.Schema+`.position`).Scan(&hi, &called); err != nil {
		return err
	}
	if called {
		_, _ = s.headAtLeast(s.ctx, uint64(hi))
	}
	s.watch.Notify()
	for {
		n, err := pc.WaitForNotification(s.ctx)
		if err != nil {
			return err
		}
		if pos, err := strconv.ParseUint(n.Payload, 10, 64); err == nil {
			_, _ = s.headAtLeast(s.ctx, pos)
		}
		s.watch.Notify()
	}
}

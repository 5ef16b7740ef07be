package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"time"
)

// RunRawSink is the peer side of the raw TCP baseline: it accepts one
// connection at a time, reads length-prefixed frames and, after the count
// announced in the first 8 bytes, answers one byte.
func RunRawSink(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	ready(ln.Addr().String())
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		err = drainRaw(conn)
		conn.Close()
		if err != nil {
			return err
		}
	}
}

func drainRaw(conn net.Conn) error {
	r := bufio.NewReaderSize(conn, 256<<10)
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	count := binary.BigEndian.Uint64(hdr[:])
	if count&echoFlag != 0 {
		return echoRaw(conn, r, count&^echoFlag)
	}
	buf := make([]byte, 64<<10)
	for range count {
		if _, err := io.ReadFull(r, hdr[:4]); err != nil {
			return err
		}
		size := binary.BigEndian.Uint32(hdr[:4])
		if int(size) > len(buf) {
			return fmt.Errorf("bench: raw frame of %d bytes", size)
		}
		if _, err := io.ReadFull(r, buf[:size]); err != nil {
			return err
		}
	}
	_, err := conn.Write([]byte{1})
	return err
}

// echoFlag in the count asks the sink to send every frame back.
const echoFlag = 1 << 63

func echoRaw(conn net.Conn, r *bufio.Reader, count uint64) error {
	buf := make([]byte, 4+64<<10)
	for range count {
		if _, err := io.ReadFull(r, buf[:4]); err != nil {
			return err
		}
		size := binary.BigEndian.Uint32(buf[:4])
		if int(size) > len(buf)-4 {
			return fmt.Errorf("bench: raw frame of %d bytes", size)
		}
		if _, err := io.ReadFull(r, buf[4:4+size]); err != nil {
			return err
		}
		if _, err := conn.Write(buf[:4+size]); err != nil {
			return err
		}
	}
	return nil
}

// RawRoundTrips sends count frames of payload to a raw sink at addr one at
// a time, each answered by the sink, and returns the round trips' median
// in microseconds: the floor of a round trip between two processes.
func RawRoundTrips(ctx context.Context, addr string, count int, payload []byte) (float64, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(count)|echoFlag)
	if _, err := conn.Write(hdr[:]); err != nil {
		return 0, err
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	frame = append(frame, payload...)
	back := make([]byte, len(frame))
	lat := make([]time.Duration, count)
	for i := range lat {
		start := time.Now()
		if _, err := conn.Write(frame); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(conn, back); err != nil {
			return 0, err
		}
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	return float64(lat[len(lat)/2]) / 1e3, nil
}

// RawStream sends count frames of payload to a raw sink at addr, as a plain
// length-prefixed TCP stream through a buffered writer, and returns
// messages per second (until the sink confirms it read them all).
func RawStream(ctx context.Context, addr string, count int, payload []byte) (float64, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	w := bufio.NewWriterSize(conn, 256<<10)
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(count))
	start := time.Now()
	if _, err := w.Write(hdr[:]); err != nil {
		return 0, err
	}
	for range count {
		binary.BigEndian.PutUint32(hdr[:4], uint32(len(payload)))
		w.Write(hdr[:4])
		if _, err := w.Write(payload); err != nil {
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(conn, hdr[:1]); err != nil {
		return 0, err
	}
	return float64(count) / time.Since(start).Seconds(), nil
}

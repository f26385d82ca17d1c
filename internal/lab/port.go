package lab

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) { return FreePortOn("127.0.0.1") }

// FreePortOn returns a TCP port that was free a moment ago on every one of
// addrs, for servers that listen on the same port on several addresses (a
// cluster's load balancers on 127.0.0.2, 127.0.0.3, ...). On Linux every
// address of 127.0.0.0/8 is loopback without any configuration.
//
// The port is drawn at random from below the kernel's ephemeral range. A
// port the kernel hands out for ":0" is also what it hands the next
// outgoing connection, so under load another test's client could take it
// between this probe and the server's bind; a port below the range is only
// ever taken by another test that drew the same one.
func FreePortOn(addrs ...string) (int, error) {
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1"}
	}
	low, high := 10000, ephemeralLow()
	var lastErr error
	for range 50 {
		port := low + rand.IntN(high-low)
		if lastErr = probe(port, addrs); lastErr == nil {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no port free on all of %v: %w", addrs, lastErr)
}

// FreeTCPUDPPort is FreePort for a server that binds the same port for TCP
// and UDP, as a DNS server does.
func FreeTCPUDPPort() (int, error) {
	var lastErr error
	for range 50 {
		port, err := FreePort()
		if err != nil {
			return 0, err
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			pc.Close()
			return port, nil
		}
		lastErr = err
	}
	return 0, fmt.Errorf("no port free for TCP and UDP: %w", lastErr)
}

func probe(port int, addrs []string) error {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for _, a := range addrs {
		l, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		held = append(held, l)
	}
	return nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 on
// Debian), read from /proc so that a tuned machine is honoured.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				return n
			}
		}
	}
	return 32768
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/hotcert/hotcert/admin"
	"github.com/hotcert/hotcert/cluster"
	"github.com/hotcert/hotcert/configs"
	"github.com/hotcert/hotcert/daemon"
	"github.com/hotcert/hotcert/runtime"
	"github.com/hotcert/hotcert/store"
)

// openCluster connects this node to its cluster's etcd. It does not wait
// for etcd: a node starts and serves what it holds while etcd is away.
func openCluster(ctx context.Context, cfg *configs.Config, local *store.File, log *slog.Logger) (*cluster.Cluster, error) {
	e := cfg.Cluster.Etcd
	tlsConf, err := etcdTLS(e)
	if err != nil {
		return nil, err
	}
	password, err := etcdPassword(e)
	if err != nil {
		return nil, err
	}
	return cluster.Open(ctx, cluster.Options{
		Node: cfg.Cluster.Node, Endpoints: e.Endpoints, Prefix: e.Prefix,
		TLS: tlsConf, Username: e.Username, Password: password,
		LeaseTTL: time.Duration(cfg.Cluster.LeaseTTL), Local: local, Logger: log.With("component", "cluster"),
		Version: version,
	})
}

// clusterNode adapts the cluster to the daemon's and the admin API's
// interfaces, which name their own types.
type clusterNode struct {
	*cluster.Cluster
	node string
}

var (
	_ daemon.Cluster    = clusterNode{}
	_ daemon.Store      = (*cluster.Cluster)(nil)
	_ admin.ClusterView = clusterNode{}
)

func (c clusterNode) Claim(ctx context.Context, name string) (daemon.Claim, error) {
	cl, err := c.Cluster.Claim(ctx, name)
	if errors.Is(err, cluster.ErrClaimed) {
		return nil, fmt.Errorf("%w: %w", daemon.ErrClaimed, err)
	}
	if err != nil {
		return nil, err
	}
	return cl, nil
}

func (c clusterNode) ClusterStatus(ctx context.Context) admin.ClusterStatus {
	st := admin.ClusterStatus{Node: c.node}
	if err := c.Ready(); err != nil {
		st.Store = err.Error()
		return st // asking etcd more would only wait for its deadline
	}
	if members, err := c.Members(ctx); err == nil {
		for _, m := range members {
			st.Members = append(st.Members, m.Node)
		}
		sort.Strings(st.Members)
	}
	if claims, err := c.Claims(ctx); err == nil && len(claims) > 0 {
		st.Claims = claims
	}
	return st
}

// mirrorTokens puts every pending HTTP-01 token of the cluster into this
// node's HAProxy challenge map, so that the CA can validate through any
// load balancer.
func mirrorTokens(ctx context.Context, c *cluster.Cluster, m *runtime.MapMirror) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-c.Tokens():
			if !ok {
				return
			}
			if ev.Removed {
				m.Delete(ev.Token)
			} else {
				m.Set(ev.Token, ev.KeyAuth)
			}
		}
	}
}

// shareAccount gives the cluster this node's account when the cluster has
// none yet (its first node), so that every node orders with one account.
func shareAccount(c *cluster.Cluster, local *store.File, log *slog.Logger) {
	if _, err := c.Account(); !errors.Is(err, store.ErrNotFound) {
		return
	}
	a, err := local.Account()
	if err != nil {
		return
	}
	if err := c.SaveAccount(a); err != nil {
		log.Warn("share the ACME account with the cluster", "err", err)
	}
}

package admin

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ClusterView is what the admin API shows of a cluster of hotcert nodes;
// nil when this node runs alone.
type ClusterView interface {
	ClusterStatus(ctx context.Context) ClusterStatus
}

// ClusterStatus is this node's view of its cluster.
type ClusterStatus struct {
	Node string `json:"node"`
	// Store is "" while the shared store answers, else why it does not.
	Store   string   `json:"store_error,omitempty"`
	Members []string `json:"members"`
	// Claims names the node that holds each certificate's claim: the one
	// ordering or renewing it now.
	Claims map[string]string `json:"claims,omitempty"`
}

// clusterTimeout bounds what a status request or a scrape waits for the
// shared store, which may be frozen.
const clusterTimeout = 2 * time.Second

func clusterStatus(ctx context.Context, v ClusterView) *ClusterStatus {
	if v == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	st := v.ClusterStatus(ctx)
	return &st
}

// WatchCluster adds hotcert_etcd_up and hotcert_cluster_members, read from
// v at each scrape.
func (m *Metrics) WatchCluster(v ClusterView) {
	status := func() ClusterStatus {
		return *clusterStatus(context.Background(), v)
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hotcert_etcd_up", Help: "1 when the cluster's etcd answers, 0 otherwise.",
		}, func() float64 { return boolValue(status().Store == "") }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hotcert_cluster_members", Help: "Nodes of the cluster that are alive, as etcd sees them.",
		}, func() float64 { return float64(len(status().Members)) }),
	)
}

package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type fakeClusterView struct{ st ClusterStatus }

func (f *fakeClusterView) ClusterStatus(context.Context) ClusterStatus { return f.st }

// TestClusterShownInStatusAndMetrics: the certificate list carries the
// cluster's members and claims, and the metrics whether etcd answers and
// how many members are alive.
func TestClusterShownInStatusAndMetrics(t *testing.T) {
	view := &fakeClusterView{ClusterStatus{Node: "lb1", Members: []string{"lb1", "lb2", "lb3"}, Claims: map[string]string{"shop": "lb2"}}}
	m := NewMetrics("test")
	m.WatchCluster(view)
	s := New(Options{Daemon: &fakeDaemon{revoked: map[string]int{}}, Token: testToken, Metrics: m, Cluster: view})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/v1/certificates")
	if err != nil {
		t.Fatal(err)
	}
	var list CertList
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if list.Cluster == nil || list.Cluster.Node != "lb1" || len(list.Cluster.Members) != 3 || list.Cluster.Claims["shop"] != "lb2" {
		t.Fatalf("cluster in the list = %+v", list.Cluster)
	}
	scrape := func() string {
		res, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	body := scrape()
	for _, want := range []string{"hotcert_etcd_up 1", "hotcert_cluster_members 3"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	view.st.Store, view.st.Members = "etcd does not answer", nil
	if body := scrape(); !strings.Contains(body, "hotcert_etcd_up 0") {
		t.Error("hotcert_etcd_up does not fall to 0 while etcd is away")
	}
}

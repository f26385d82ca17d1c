package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hotcert/hotcert/configs"
)

// BenchmarkCatalogEditOne is the cost of one file's edit, from Load of its
// path to Apply of the new set, with 100 and with 100,000 files of one
// certificate each in domains_dir. It must not grow with the number of
// files: go test -run '^$' -bench CatalogEditOne -benchtime 2000x ./catalog
func BenchmarkCatalogEditOne(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			applied := 0
			c, dir := benchCatalog(b, n, func(*configs.Domains) { applied++ })
			path := filepath.Join(dir, fmt.Sprintf("c%06d.yaml", n/2))
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				writeBench(b, path, n/2, i+1)
				b.StartTimer()
				if err := c.Load([]string{path}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if applied != b.N+1 {
				b.Fatalf("%d applies for %d edits", applied-1, b.N)
			}
		})
	}
}

// BenchmarkCatalogPutNew is an admin API Put of a new certificate with 100
// and with 100,000 certificates in force, the file's fsyncs included.
func BenchmarkCatalogPutNew(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			c, _ := benchCatalog(b, n, nil)
			b.ResetTimer()
			for i := range b.N {
				name := fmt.Sprintf("put%d", i)
				if _, err := c.Put(name, Spec{Domains: []string{name + ".example.com"}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchCatalog is a catalog that has read n files of one certificate each.
func benchCatalog(b *testing.B, n int, apply func(*configs.Domains)) (*Catalog, string) {
	dir := b.TempDir()
	for i := range n {
		writeBench(b, filepath.Join(dir, fmt.Sprintf("c%06d.yaml", i)), i, 0)
	}
	c := New(Options{Config: &configs.Config{File: filepath.Join(dir, "hotcert.yaml"), DomainsDir: dir}, Apply: apply})
	if err := c.Load(nil); err != nil {
		b.Fatal(err)
	}
	return c, dir
}

// writeBench writes certificate i's file, version v.
func writeBench(b *testing.B, path string, i, v int) {
	content := fmt.Sprintf("certificates:\n  - name: c%d\n    domains: [c%d-v%d.example.com]\n", i, i, v)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}

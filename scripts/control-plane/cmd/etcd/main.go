// Command etcd is the upstream etcd server. Its own main package lives at the
// root of go.etcd.io/etcd/server/v3, whose go.mod uses relative replaces and so
// cannot be built with `go install`; this is the same one-line wrapper.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
